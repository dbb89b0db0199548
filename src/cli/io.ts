/** The CLI's only way to write: stdout for results, stderr for messages (CLI.md). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  quiet: boolean;
  /** --json was given: results go to stdout as one JSON document. */
  json?: boolean;
}

// A reader that goes away (`imgpack inspect x | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
  quiet: false,
};

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
