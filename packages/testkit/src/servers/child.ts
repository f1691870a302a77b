import { spawn, type ChildProcess } from 'node:child_process';

/** A server running as a child process of this one. */
export interface ChildServer {
  child: ChildProcess;
  /** The first match of `ready` in the child's output. */
  match: RegExpMatchArray;
  stop(): Promise<void>;
}

/**
 * Starts `node ...args` and waits until its output matches `ready`. The child's stdin stays open as
 * a pipe: the child scripts exit when it closes, so a crashed test run leaves no server behind.
 */
export function startChild(name: string, args: string[], ready: RegExp, options: { cwd?: string; timeoutMs?: number } = {}): Promise<ChildServer> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let output = '';
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`${name} did not start within ${timeoutMs} ms: ${output.slice(-2000)}`)), timeoutMs);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      output += chunk.toString('utf8');
      const match = output.match(ready);
      if (match) {
        settled = true;
        clearTimeout(timer);
        // Keep draining output so the child never blocks on a full pipe.
        output = '';
        resolve({ child, match, stop: () => stopChild(child) });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('error', (err) => fail(new Error(`${name} could not be started: ${err.message}`, { cause: err })));
    child.on('exit', (code, signal) => fail(new Error(`${name} exited before it was ready (code ${code}, signal ${signal}): ${output.slice(-2000)}`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.stdin?.end();
    child.kill('SIGTERM');
  });
}
