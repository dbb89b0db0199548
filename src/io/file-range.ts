/** A byte range of a file on disk (or of a set of volumes) that writers copy with positional reads. */
export interface FileRange {
  kind: 'range';
  /** The bytes, in order (several segments when the source is a set of volumes). */
  segments: { path: string; start: number; length: number }[];
  length: number;
  /** Sees each chunk before it is passed on (and may copy it: a check in a worker); a promise it returns is waited for. */
  tap?: (chunk: Buffer) => void | Promise<void>;
  /**
   * Where to read the next chunk into, for a reader that is done with each chunk before it reads
   * the next (memory a checking worker reads directly).
   */
  buffer?: () => Buffer | Promise<Buffer>;
  done?: () => void;
}
