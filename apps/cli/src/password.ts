/**
 * Where a password comes from, in order: --password-file, $PREFIX_PASSWORD_FILE, $PREFIX_PASSWORD, the
 * config file's passwordFile, else a prompt without echo when there is a terminal. No terminal and no
 * password is an error (a script must never hang waiting for input).
 */
import { readFileSync } from 'node:fs';
import { CliError } from './errors.js';

export interface PasswordSource {
  /** The --password-file (or --from-password-file) value. */
  file?: string;
  /** 'STRATA' reads STRATA_PASSWORD(_FILE); 'STRATA_FROM' reads STRATA_FROM_PASSWORD(_FILE). */
  envPrefix: 'STRATA' | 'STRATA_FROM';
  /** From the config file, already resolved against its folder. */
  configFile?: string;
  /** Which flag to name in messages: '--password-file' or '--from-password-file'. */
  flag: string;
  env?: Record<string, string | undefined>;
}

/** Reads a password file: its content without the final line break. */
export function readPasswordFile(file: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new CliError(`cannot read the password file ${file} (${reason}); check ${flag}`, 1, { cause: err });
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new CliError(`the password file ${file} is empty; write the password in it`);
  return password;
}

/** The password given without asking, or undefined when the user must be asked. */
export function givenPassword(source: PasswordSource): string | undefined {
  const env = source.env ?? process.env;
  if (source.file) return readPasswordFile(source.file, source.flag);
  const envFile = env[`${source.envPrefix}_PASSWORD_FILE`];
  if (envFile) return readPasswordFile(envFile, `${source.envPrefix}_PASSWORD_FILE`);
  const envPassword = env[`${source.envPrefix}_PASSWORD`];
  if (envPassword !== undefined && envPassword !== '') return envPassword;
  if (source.configFile) return readPasswordFile(source.configFile, 'passwordFile in the config file');
  return undefined;
}

export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

export function noPasswordError(source: PasswordSource, why = 'there is no terminal to ask on'): CliError {
  return new CliError(
    `no password given and ${why}; use ${source.flag} F, ${source.envPrefix}_PASSWORD_FILE or ${source.envPrefix}_PASSWORD`,
  );
}

/** Reads one line from the terminal without echo. Ctrl-C exits with 130, as a shell would. */
export function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    const wasRaw = stdin.isRaw;
    // Echo goes off before the prompt shows, so an answer typed right after it is never echoed.
    stdin.setRawMode(true);
    process.stderr.write(prompt);
    stdin.resume();
    stdin.setEncoding('utf8');
    const finish = (fn: () => void) => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      fn();
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(() => resolve(value));
        if (ch === '\u0003') return finish(() => process.exit(130));
        if (ch === '\u0004' && value === '') return finish(() => reject(new CliError('no password entered')));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * The password for an existing repository: given, or asked once. Returns undefined when nothing is given
 * and there is no terminal: the caller then tries the repository without one (unencrypted repositories
 * need none) and reports `noPasswordError` if it turns out to need one.
 */
export async function passwordForOpen(source: PasswordSource, label = 'repository'): Promise<string | undefined> {
  const given = givenPassword(source);
  if (given !== undefined) return given;
  if (!canPrompt()) return undefined;
  const entered = await promptHidden(`enter password for ${label}: `);
  if (entered === '') throw new CliError('no password entered; type the password, or use --password-file F');
  return entered;
}

/** A new password: given, or asked twice and compared. `what` is e.g. 'new repository'. */
export async function newPassword(source: PasswordSource, what: string): Promise<string> {
  const given = givenPassword(source);
  if (given !== undefined) return given;
  if (!canPrompt()) throw noPasswordError(source);
  const first = await promptHidden(`enter password for ${what}: `);
  if (first === '') throw new CliError('an empty password is not allowed; choose a password');
  const second = await promptHidden('enter the password again: ');
  if (first !== second) throw new CliError('the passwords do not match; run the command again and type the same password twice');
  return first;
}
