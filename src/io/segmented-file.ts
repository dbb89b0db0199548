/**
 * One logical file made of consecutive parts on disk: a plain file (one part) or a set of USB
 * volumes (FILE.001, FILE.002, ...) read as one, by position, with no reassembled copy.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

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

  close(): void {
    this.fds.forEach((fd, i) => {
      if (fd !== undefined) closeSync(fd);
      this.fds[i] = undefined;
    });
  }
}
