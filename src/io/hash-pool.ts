/**
 * Hashing file ranges at disk speed on every core. `hashRange` reads a byte range into one reused
 * buffer (no stream, no per-chunk allocation) and feeds the hashers, and gunzip when the content
 * digest of a gzip layer is wanted. It runs inline for small jobs and in worker threads otherwise;
 * the workers evaluate the same function's source, so the single-file bundle needs no worker file.
 */
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';
import * as zlib from 'node:zlib';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { checkpoint, unlessCancelled } from './cancel.js';

export interface HashJob {
  /** The bytes, in order: one range of a file, or several across volumes. */
  segments: { path: string; start: number; length: number }[];
  algorithms: string[];
  /** Also gunzip and sha256 the content. */
  gzip?: boolean;
  /** The content is the stored bytes: report the stored sha256 as the content digest. */
  contentIsStored?: boolean;
}

export interface HashResult {
  size: number;
  stored: Record<string, string>;
  content?: string;
  contentSize?: number;
  error?: string;
}

interface Deps {
  fs: typeof fs;
  crypto: typeof crypto;
  zlib: typeof zlib;
}

/** Self-contained: it is also run from its source text inside workers. */
async function hashRange(job: HashJob, deps: Deps, buf: Buffer): Promise<HashResult> {
  const algorithms = job.contentIsStored && !job.algorithms.includes('sha256') ? [...job.algorithms, 'sha256'] : job.algorithms;
  const hashers = algorithms.map((a) => deps.crypto.createHash(a));
  let gunzip: zlib.Gunzip | undefined;
  let contentHash: crypto.Hash | undefined;
  let contentSize = 0;
  let gunzipError: Error | undefined;
  let gunzipEnded: Promise<void> | undefined;
  if (job.gzip) {
    const h = deps.crypto.createHash('sha256');
    contentHash = h;
    const g = deps.zlib.createGunzip();
    gunzip = g;
    g.on('data', (c: Buffer) => { h.update(c); contentSize += c.length; });
    gunzipEnded = new Promise<void>((resolve) => {
      g.on('end', () => resolve());
      g.on('error', (e: Error) => { gunzipError = e; resolve(); });
    });
  }
  let total = 0;
  for (const seg of job.segments) {
    const fd = deps.fs.openSync(seg.path, 'r');
    let pos = seg.start;
    const end = seg.start + seg.length;
    try {
      while (pos < end) {
        const n = deps.fs.readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
        if (n === 0) break;
        const chunk = buf.subarray(0, n);
        for (const h of hashers) h.update(chunk);
        if (gunzip && !gunzipError) {
          const g = gunzip;
          if (!g.write(Buffer.from(chunk))) await new Promise<void>((r) => { g.once('drain', () => r()); g.once('error', () => r()); });
        }
        pos += n;
      }
    } finally {
      deps.fs.closeSync(fd);
    }
    total += pos - seg.start;
  }
  if (gunzip) {
    if (!gunzipError) gunzip.end();
    await gunzipEnded;
  }
  const stored: Record<string, string> = {};
  algorithms.forEach((a, i) => { stored[a] = `${a}:${hashers[i].digest('hex')}`; });
  const result: HashResult = { size: total, stored };
  if (job.contentIsStored) {
    result.content = stored.sha256;
    result.contentSize = result.size;
  }
  if (contentHash) {
    if (gunzipError) result.error = `gzip data is corrupt: ${gunzipError.message}`;
    else {
      result.content = `sha256:${contentHash.digest('hex')}`;
      result.contentSize = contentSize;
    }
  }
  return result;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const deps = { fs: require('node:fs'), crypto: require('node:crypto'), zlib: require('node:zlib') };
const hashRange = ${hashRange.toString()};
const buf = Buffer.allocUnsafe(4 << 20);
parentPort.on('message', (job) => {
  hashRange(job, deps, buf).then((r) => parentPort.postMessage({ id: job.id, result: r }), (e) => parentPort.postMessage({ id: job.id, result: { size: 0, stored: {}, error: String(e && e.message || e) } }));
});
`;

/** Jobs below this many bytes in total are not worth starting workers for. */
const WORKER_THRESHOLD = 64 * 1024 * 1024;

export class HashPool {
  private workers: { worker: Worker; busy: boolean }[] = [];
  private queue: { job: HashJob & { id: number }; resolve: (r: HashResult) => void }[] = [];
  private pending = new Map<number, (r: HashResult) => void>();
  private nextId = 0;
  private inlineBuf?: Buffer;

  constructor(private readonly size: number) {}

  /** A pool sized for the work: inline below the threshold, else one worker per core (max 4). */
  static forWork(totalBytes: number): HashPool {
    return new HashPool(totalBytes < WORKER_THRESHOLD ? 0 : Math.min(4, Math.max(1, availableParallelism())));
  }

  /** A signal (io/cancel.ts) rejects it at once; close() then stops the workers. */
  async run(job: HashJob): Promise<HashResult> {
    await checkpoint();
    if (this.size === 0) {
      this.inlineBuf ??= Buffer.allocUnsafe(1 << 20);
      return hashRange(job, { fs, crypto, zlib }, this.inlineBuf).catch((e: Error) => ({ size: 0, stored: {}, error: e.message }));
    }
    return unlessCancelled(new Promise((resolve) => {
      this.queue.push({ job: { ...job, id: this.nextId++ }, resolve });
      this.pump();
    }));
  }

  private pump(): void {
    while (this.queue.length) {
      let slot = this.workers.find((w) => !w.busy);
      if (!slot && this.workers.length < this.size) {
        const worker = new Worker(WORKER_SOURCE, { eval: true });
        worker.unref();
        const s = { worker, busy: false };
        worker.on('message', (m: { id: number; result: HashResult }) => {
          s.busy = false;
          const resolve = this.pending.get(m.id);
          this.pending.delete(m.id);
          resolve?.(m.result);
          this.pump();
        });
        this.workers.push(s);
        slot = s;
      }
      if (!slot) return;
      const item = this.queue.shift()!;
      slot.busy = true;
      this.pending.set(item.job.id, item.resolve);
      slot.worker.postMessage(item.job);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers = [];
  }
}
