/** A byte range of a file on disk (or of a set of volumes) that writers copy with positional reads. */
export interface FileRange {
  kind: 'range';
  /** The bytes, in order (several segments when the source is a set of volumes). */
  segments: { path: string; start: number; length: number }[];
  length: number;
  tap?: (chunk: Buffer) => void;
  done?: () => void;
}
