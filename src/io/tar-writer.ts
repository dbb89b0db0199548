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
    return this.guard((cb) => this.pack.entry({ ...this.header(name, opts), size: buf.length }, buf, cb));
  }

  addDirectory(name: string, opts: EntryOptions = {}): Promise<void> {
    return this.guard((cb) => this.pack.entry({ ...this.header(name, { mode: 0o755, ...opts }), type: 'directory' }, cb));
  }

  addSymlink(name: string, target: string, opts: EntryOptions = {}): Promise<void> {
    return this.guard((cb) => this.pack.entry({ ...this.header(name, { mode: 0o777, ...opts }), type: 'symlink', linkname: target }, cb));
  }

  /** Runs one entry write; settles with the destination's failure if that comes first. */
  private guard(start: (cb: (err?: Error | null) => void) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.waiters.push(reject);
      start((err) => (err ? reject(this.failure ?? err) : resolve()));
    });
  }

  /** Streams `size` bytes of `input` into one member; fewer or more bytes is an error. */
  async addStream(name: string, size: number, input: AsyncIterable<Uint8Array>, opts: EntryOptions = {}): Promise<void> {
    if (this.failure) throw this.failure;
    let done!: (err?: Error | null) => void;
    const finished = new Promise<void>((resolve, reject) => { done = (err) => (err ? reject(this.failure ?? err) : resolve()); });
    finished.catch(() => {}); // when we abandon the entry, its callback reports that: expected
    const sink = this.pack.entry({ ...this.header(name, opts), size }, (err) => done(err));
    // A destination failure tears the pack down and every open entry with it; the failure
    // reaches our caller through `fail`, so the entry's own echo of it is not news.
    sink.on('error', () => {});
    let written = 0;
    try {
      for await (const chunk of input) {
        written += chunk.length;
        if (written > size) throw invalid('size-mismatch', `blob is larger than the ${size} bytes expected`, name);
        if (!sink.write(chunk)) await this.drained(sink);
      }
      if (written !== size) throw invalid('size-mismatch', `blob has ${written} bytes, ${size} were expected`, name);
    } catch (e) {
      // The error travels to our caller; the streams are just torn down.
      sink.destroy();
      this.pack.destroy();
      throw this.failure ?? e;
    }
    (sink as unknown as { end(): void }).end();
    this.bytesWritten += written;
    await finished;
  }

  /** Waits for room in the entry, or fails when the archive was torn down (output error). */
  private drained(sink: { once(e: string, f: () => void): unknown }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      sink.once('drain', () => resolve());
      sink.once('close', () => (this.failure ? reject(this.failure) : resolve()));
      this.waiters.push(reject);
    });
  }

  private failure?: Error;
  private waiters: ((e: Error) => void)[] = [];

  /** The destination failed (disk full...): every pending and later write fails with `err`. */
  fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w(this.failure);
    this.pack.destroy();
  }

  finalize(): void {
    this.pack.finalize();
  }

  private header(name: string, opts: EntryOptions) {
    return { name, mode: opts.mode ?? 0o644, mtime: opts.mtime ?? EPOCH, uid: opts.uid ?? 0, gid: opts.gid ?? 0, uname: '', gname: '' };
  }
}
