/**
 * A deterministic tar writer over tar-stream: fixed mtimes, owners and modes unless asked, PAX
 * for long names and base-256 for sizes >= 8 GiB (tar-stream does both). Blob streams are
 * written with backpressure, so memory stays bounded whatever their size.
 */
import { pack, type Pack } from 'tar-stream';
import type { Readable } from 'node:stream';
import { invalid } from '../errors.js';

export interface EntryOptions {
  mode?: number;
  mtime?: Date;
  uid?: number;
  gid?: number;
}

const EPOCH = new Date(0);

export class TarWriter {
  readonly pack: Pack = pack();
  /** Bytes of content written, for progress and for checks against expectations. */
  bytesWritten = 0;

  /** The tar as a stream: pipe it somewhere before writing entries. */
  get stream(): Readable {
    return this.pack as unknown as Readable;
  }

  addBuffer(name: string, data: Uint8Array | string, opts: EntryOptions = {}): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    this.bytesWritten += buf.length;
    return new Promise((resolve, reject) => {
      this.pack.entry({ ...this.header(name, opts), size: buf.length }, buf, (err) => (err ? reject(err) : resolve()));
    });
  }

  addDirectory(name: string, opts: EntryOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pack.entry({ ...this.header(name, { mode: 0o755, ...opts }), type: 'directory' }, (err) => (err ? reject(err) : resolve()));
    });
  }

  addSymlink(name: string, target: string, opts: EntryOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pack.entry({ ...this.header(name, { mode: 0o777, ...opts }), type: 'symlink', linkname: target }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Streams `size` bytes of `input` into one member; fewer or more bytes is an error. */
  async addStream(name: string, size: number, input: AsyncIterable<Uint8Array>, opts: EntryOptions = {}): Promise<void> {
    let done!: (err?: Error | null) => void;
    const finished = new Promise<void>((resolve, reject) => { done = (err) => (err ? reject(err) : resolve()); });
    finished.catch(() => {}); // when we abandon the entry, its callback reports that: expected
    const sink = this.pack.entry({ ...this.header(name, opts), size }, (err) => done(err));
    let written = 0;
    try {
      for await (const chunk of input) {
        written += chunk.length;
        if (written > size) throw invalid('size-mismatch', `blob is larger than the ${size} bytes expected`, name);
        if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()));
      }
      if (written !== size) throw invalid('size-mismatch', `blob has ${written} bytes, ${size} were expected`, name);
    } catch (e) {
      // The error travels to our caller; the streams are just torn down (an error passed to them
      // would be emitted a second time, unheard).
      sink.on('error', () => {});
      sink.destroy();
      this.pack.destroy();
      throw e;
    }
    (sink as unknown as { end(): void }).end();
    this.bytesWritten += written;
    await finished;
  }

  finalize(): void {
    this.pack.finalize();
  }

  private header(name: string, opts: EntryOptions) {
    return { name, mode: opts.mode ?? 0o644, mtime: opts.mtime ?? EPOCH, uid: opts.uid ?? 0, gid: opts.gid ?? 0, uname: '', gname: '' };
  }
}
