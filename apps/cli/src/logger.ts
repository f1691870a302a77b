/**
 * --log-file F: structured JSON log lines (pino) of every operation, appended to F. The same logger is
 * handed to the engine. Written synchronously so nothing is lost when the process exits.
 */
import type { Logger } from '@strata/engine';

export interface FileLogger extends Logger {
  flush?(): void;
}

/** A logger that drops everything, for runs without --log-file. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

export async function createFileLogger(file: string, verbose: boolean): Promise<FileLogger> {
  const { pino } = await import('pino');
  const destination = pino.destination({ dest: file, sync: true, mkdir: true, append: true });
  const logger = pino(
    {
      level: verbose ? 'debug' : 'info',
      base: { pid: process.pid, program: 'strata' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // A password never reaches a log line, whatever a caller passes in.
      redact: { paths: ['password', '*.password', 'newPassword'], censor: '***' },
    },
    destination,
  );
  return logger as unknown as FileLogger;
}
