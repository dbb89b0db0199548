/**
 * SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal went away) stop every command promptly, with
 * exit 128 + N (CLI.md) and nothing half-done left behind. The first signal cancels the work
 * (io/cancel.ts): it unwinds through the clean-up every failure runs, and the process exits as
 * soon as it has. Whatever has not unwound within GRACE_MS (a blocked read, a request that does
 * not answer) is cut short: the registered clean-ups run and the process exits. A second signal
 * exits at once, the same way.
 */
import { STOP_SIGNALS, type StopSignal } from '../errors.js';
import { cancel, cancellation, cancelledBy, cancelSignal, runExitCleanups } from '../io/cancel.js';
import type { Io } from './io.js';

const GRACE_MS = 500;

export function stopOnSignals(io: Io): void {
  for (const signal of Object.keys(STOP_SIGNALS) as StopSignal[]) {
    process.on(signal, () => {
      const first = cancellation();
      if (first) exitInterrupted(io, first.exitCode, first.line);
      cancel(signal);
      setTimeout(() => exitInterrupted(io, STOP_SIGNALS[signal], cancellation()!.line), GRACE_MS).unref();
    });
    // The single-file build's loader held signals while the program loaded
    // (scripts/bundle-loader.cjs). Removed only now: with no listener left for a moment, Node
    // would drop a signal that came in meanwhile and is not delivered yet.
    for (const l of process.listeners(signal)) if (l.name === 'imgpackLoading') process.off(signal, l);
  }
}

let reported = false;

/** Prints the one line, once, whoever gets here first (the unwound command or the deadline). */
export function reportInterrupted(io: Io, line: string): void {
  if (reported) return;
  reported = true;
  io.err(`imgpack: ${line}`);
}

function exitInterrupted(io: Io, code: number, line: string): never {
  reportInterrupted(io, line);
  runExitCleanups();
  process.exit(code);
}

/** For a command that runs until it is told to stop (serve): the signal, once it comes. */
export function untilStopped(): Promise<StopSignal> {
  return new Promise((resolve) => {
    if (cancelSignal.aborted) return resolve(cancelledBy()!);
    cancelSignal.addEventListener('abort', () => resolve(cancelledBy()!), { once: true });
  });
}
