// tar-fs ships no types: the part of its extract() that imgpack uses (export -o DIR/).
declare module 'tar-fs' {
  import type { Header } from 'tar-stream';
  export interface ExtractOptions {
    /** Rewrites a header before anything is written. */
    map?: (header: Header) => Header;
    /** True to skip an entry (its bytes are drained). */
    ignore?: (path: string, header?: Header) => boolean;
    umask?: number;
    /** false: write symlinks whatever they point at (they are never followed when writing). */
    validateSymlinks?: boolean;
    strict?: boolean;
  }
  export function extract(cwd: string, opts?: ExtractOptions): NodeJS.WritableStream;
}
