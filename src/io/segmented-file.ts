/**
 * One logical file made of consecutive parts on disk: a plain file (one part) or a set of USB
 * volumes (FILE.001, FILE.002, ...) read as one, by position, with no reassembled copy.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';

const CHUNK = 1 << 20;

/** A byte range of one file on disk. */
export interface Segment {
  path: string;
  start: number;
  length: number;
}

export class SegmentedFile {
  readonly size: number;
  private readonly offsets: number[] = [];
  private readonly fds: (number | undefined)[];

  constructor(readonly parts: { path: string; size: number }[]) {
    let total = 0;
    for (const p of parts) {
      this.offsets.push(total);
      total += p.size;
    }
    this.size = total;
    this.fds = parts.map(() => undefined);
  }

  static single(path: string): SegmentedFile {
    return new SegmentedFile([{ path, size: statSync(path).size }]);
  }

  /** The path that names it: the file, or the first volume. */
  get path(): string {
    return this.parts[0].path;
  }

  /** Reads up to `length` bytes at `position`, across part boundaries; returns the count read. */
  readSync(buf: Buffer, offset: number, length: number, position: number): number {
    let done = 0;
    for (const seg of this.segments(position, Math.min(length, Math.max(0, this.size - position)))) {
      const i = this.parts.findIndex((p) => p.path === seg.path);
      const fd = (this.fds[i] ??= openSync(seg.path, 'r'));
      let got = 0;
      while (got < seg.length) {
        const n = readSync(fd, buf, offset + done + got, seg.length - got, seg.start + got);
        if (n === 0) return done + got;
        got += n;
      }
      done += got;
    }
    return done;
  }

  /** The on-disk ranges that hold [position, position + length). */
  segments(position: number, length: number): Segment[] {
    const out: Segment[] = [];
    let pos = position;
    let left = length;
    for (let i = 0; i < this.parts.length && left > 0; i++) {
      const partStart = this.offsets[i];
      const partEnd = partStart + this.parts[i].size;
      if (pos >= partEnd) continue;
      const start = pos - partStart;
      const n = Math.min(left, partEnd - pos);
      out.push({ path: this.parts[i].path, start, length: n });
      pos += n;
      left -= n;
    }
    return out;
  }

  /**
   * The bytes [start, end) as a stream, with synchronous positional reads: from the page cache
   * they cost microseconds, where a thread-pool round trip per chunk would cost more.
   */
  stream(start = 0, end = this.size): Readable {
    let pos = start;
    const read = (buf: Buffer, length: number) => this.readSync(buf, 0, length, pos);
    return new Readable({
      highWaterMark: 4 * CHUNK,
      read() {
        const length = Math.min(CHUNK, end - pos);
        if (length <= 0) {
          this.push(null);
          return;
        }
        const buf = Buffer.allocUnsafe(length);
        try {
          const n = read(buf, length);
          if (n === 0) throw Object.assign(new Error('unexpected end of file'), { code: 'EIO' });
          pos += n;
          this.push(n === length ? buf : buf.subarray(0, n));
        } catch (e) {
          this.destroy(e as Error);
        }
      },
    });
  }

  close(): void {
    this.fds.forEach((fd, i) => {
      if (fd !== undefined) closeSync(fd);
      this.fds[i] = undefined;
    });
  }
}
