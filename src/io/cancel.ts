/**
 * One cancellation for the whole program. The CLI turns SIGINT, SIGTERM and SIGHUP into
 * `cancel(signal)`; every long operation notices it at its next `checkpoint()` (a few times a
 * second at least) and throws `interrupted`, which unwinds through the same clean-up as any
 * other failure: sinks abort, temporaries go, store locks and .pending lists are released, so
 * that nothing half-done stays. Streams and requests take `cancelSignal` and stop at once.
 *
 * Clean-ups registered with `atExit` also run when the process exits without unwinding (a second
 * signal, the CLI's deadline after the first, process.exit anywhere): temporaries, locks and
 * pending lists are registered there by their owners for that case.
 *
 * Code that is synchronous from "check" to "done" cannot be interrupted half-way: a signal
 * handler runs only between two turns of the event loop. Commit points (renames into place,
 * index.json) are written that way, with `throwIfCancelled()` right before them.
 */
import { setMaxListeners } from 'node:events';
import { interrupted, type ImgpackError, type StopSignal } from '../errors.js';

const controller = new AbortController();
let stoppedBy: StopSignal | undefined;
// Every request and stream in flight listens to it: no "possible leak" warning for that.
setMaxListeners(0, controller.signal);

/** Aborted when the program is told to stop; give it to streams, requests and waits. */
export const cancelSignal: AbortSignal = controller.signal;

/** Stops the work in progress (the CLI calls this on SIGINT, SIGTERM, SIGHUP). */
export function cancel(signal: StopSignal): void {
  if (controller.signal.aborted) return;
  stoppedBy = signal;
  controller.abort(interrupted(signal));
}

/** The signal that stopped the program, if one did. */
export function cancelledBy(): StopSignal | undefined {
  return stoppedBy;
}

/** The error the work stops with, once cancelled. */
export function cancellation(): ImgpackError | undefined {
  return controller.signal.aborted ? (controller.signal.reason as ImgpackError) : undefined;
}

export function throwIfCancelled(): void {
  if (controller.signal.aborted) throw controller.signal.reason;
}

/** Loops that never wait for I/O (synchronous reads and writes) let signals in this often. */
const YIELD_MS = 25;
let lastYield = performance.now();

/**
 * Called between chunks of long work: lets the event loop turn when the last turn is older than
 * YIELD_MS (a signal is delivered only then), then throws if the program was told to stop. The
 * copy loops are synchronous inside (positional reads and writes): without this, a 1 GiB load
 * would see its SIGINT only once it had finished.
 */
export async function checkpoint(): Promise<void> {
  if (performance.now() - lastYield >= YIELD_MS) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    lastYield = performance.now();
  }
  throwIfCancelled();
}

/** Waits `ms`, or throws as soon as the program is told to stop. */
export function sleep(ms: number): Promise<void> {
  throwIfCancelled();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(controller.signal.reason);
    };
    const timer = setTimeout(() => {
      controller.signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    controller.signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Settles as `work` does, or rejects as soon as the program is told to stop. */
export function unlessCancelled<T>(work: Promise<T>): Promise<T> {
  throwIfCancelled();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(controller.signal.reason);
    controller.signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => controller.signal.removeEventListener('abort', onAbort));
  });
}

const cleanups = new Set<() => void>();
let hooked = false;

/**
 * Registers a synchronous clean-up that runs if the process exits before its owner calls the
 * returned function (which unregisters it without running it).
 */
export function atExit(cleanup: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', runExitCleanups);
  }
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
}

/** Runs every registered clean-up now (best effort: the process is about to end). */
export function runExitCleanups(): void {
  for (const c of [...cleanups]) {
    cleanups.delete(c);
    try {
      c();
    } catch {
      // best effort at exit
    }
  }
}
