/** The CLI's only way to write: stdout for results, stderr for messages (CLI.md). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  quiet: boolean;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
  quiet: false,
};

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
