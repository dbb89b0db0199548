/**
 * Typed errors. Every failure that reaches the user carries a stable code, a message that names
 * the file, member or digest at fault, and the exit code CLI.md assigns to its class:
 * 1 = the images or archives are at fault, 2 = usage or environment, 128 + N = stopped by
 * signal N (129 SIGHUP, 130 SIGINT, 143 SIGTERM).
 */
export type ExitCode = 0 | 1 | 2 | SignalExitCode;
export type SignalExitCode = 129 | 130 | 143;

export class ImgpackError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** The file, member, digest or reference at fault, shown in parentheses. */
    readonly subject?: string,
    readonly exitCode: Exclude<ExitCode, 0> = 1,
  ) {
    super(message);
    this.name = 'ImgpackError';
  }

  /** The one line CLI.md prescribes: `<what happened> (<subject>)`. */
  get line(): string {
    return this.subject ? `${this.message} (${this.subject})` : this.message;
  }
}

/** The input is at fault (exit 1). */
export function invalid(code: string, message: string, subject?: string): ImgpackError {
  return new ImgpackError(code, message, subject, 1);
}

/** Usage or environment is at fault (exit 2). */
export function usage(code: string, message: string, subject?: string): ImgpackError {
  return new ImgpackError(code, message, subject, 2);
}

/** Turns a Node system error (ENOENT, EACCES, ENOSPC...) into an exit-2 ImgpackError. */
export function fromSystemError(err: unknown, subject: string): ImgpackError {
  if (err instanceof ImgpackError) return err;
  const e = err as NodeJS.ErrnoException;
  const messages: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on device',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
    EROFS: 'read-only file system',
    EDQUOT: 'disk quota exceeded',
    EMFILE: 'too many open files',
  };
  if (e && typeof e.code === 'string' && messages[e.code]) {
    return usage(e.code.toLowerCase(), messages[e.code], subject);
  }
  const msg = e instanceof Error ? e.message : String(err);
  return new ImgpackError('io', msg.split('\n')[0], subject, 2);
}

/** The signals that stop a command, and the exit code of each (128 + the signal's number). */
export const STOP_SIGNALS = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

/** The work was stopped by a signal (Ctrl-C, kill, a closed terminal): exit 128 + N. */
export function interrupted(signal: StopSignal): ImgpackError {
  return new ImgpackError('interrupted', `interrupted by ${signal}`, undefined, STOP_SIGNALS[signal]);
}

/**
 * What a blob of the wrong size is: one shorter than its descriptor was cut short (a copy that
 * did not finish), which is said plainly; one longer is just the wrong size.
 */
export function sizeMismatch(what: string, actual: number, expected: number): string {
  return actual < expected
    ? `${what} is truncated: ${actual} of the ${expected} bytes its descriptor gives (${expected - actual} missing)`
    : `${what} is ${actual} bytes but its descriptor says ${expected}`;
}
