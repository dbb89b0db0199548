/**
 * Small files written whole (index.json, transfer manifests, keys, docker's config.json) and
 * fsync by path: the two steps every crash-safe write here is made of.
 */
import { close, closeSync, fdatasync, fsync, fsyncSync, open, openSync, renameSync, writeSync } from 'node:fs';
import { fromSystemError } from '../errors.js';
import { registerTemp, releaseTemp, siblingTempName } from './temp.js';

/**
 * A temporary name beside `path`, created with `mode` (a private key is never readable by
 * others, not even for a moment), written, fsynced, renamed: readers see the old file or the
 * new one, never a torn one, and a crash leaves at most a hidden temporary.
 */
export function writeFileAtomically(path: string, data: string | Buffer, mode = 0o666): void {
  const temp = siblingTempName(path);
  const remove = registerTemp(temp);
  try {
    const fd = openSync(temp, 'wx', mode);
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    releaseTemp(temp);
  } catch (e) {
    remove();
    throw fromSystemError(e, path);
  }
}

/** fsync of a file or a directory (after a rename, so that the new name survives a power loss). */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Starts writing back a file's data every this many bytes written (see EarlyFlush). */
export const FLUSH_EVERY = 64 << 20;

/**
 * Durability paid while the copy runs rather than all at the end: every FLUSH_EVERY bytes a
 * background fdatasync (in libuv's thread pool) makes the disk write what is there while the
 * copy goes on, so that the final fsync before the rename only waits for the tail. Without it,
 * a 1 GiB output sits in the page cache until that final fsync, which then waits for the whole
 * of it (docs/performance.md). At most one flush is in flight; its error is the output's.
 */
export class EarlyFlush {
  private sinceFlush = 0;
  private inFlight?: Promise<void>;
  private error?: Error;

  constructor(private readonly fd: number) {}

  wrote(bytes: number): void {
    this.sinceFlush += bytes;
    if (this.sinceFlush < FLUSH_EVERY || this.inFlight) return;
    this.sinceFlush = 0;
    this.inFlight = new Promise<void>((resolve) => fdatasync(this.fd, (e) => {
      if (e) this.error ??= e;
      this.inFlight = undefined;
      resolve();
    }));
  }

  /** Waits for a flush in flight, then fsyncs what is left. */
  async finish(): Promise<void> {
    await this.inFlight;
    if (this.error) throw this.error;
    fsyncSync(this.fd);
  }

  /** Lets a flush in flight end before the descriptor is closed (an abort). */
  async settle(): Promise<void> {
    await this.inFlight;
  }
}

/**
 * fsyncs of many files, started as each is written and waited for together (an OCI layout's
 * blobs): the disk writes them while the copy goes on. At most `limit` in flight.
 */
export class BackgroundSyncs {
  private readonly running = new Set<Promise<void>>();
  private error?: Error;

  constructor(private readonly limit = 4) {}

  async add(path: string): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    const p = new Promise<void>((resolve) => open(path, 'r', (e, fd) => {
      if (e) { this.error ??= e; resolve(); return; }
      fsync(fd, (e2) => {
        if (e2) this.error ??= e2;
        close(fd, () => resolve());
      });
    }));
    this.running.add(p);
    void p.then(() => this.running.delete(p));
  }

  async finish(): Promise<void> {
    await Promise.all(this.running);
    if (this.error) throw this.error;
  }
}
