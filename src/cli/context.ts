import type { Io } from './io.js';

export interface CommandContext {
  io: Io;
  /** Commands report their exit status here; main() returns it once output is flushed. */
  setExitCode(code: number): void;
}

/** commander helper for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
