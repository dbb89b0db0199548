/**
 * Codec workers: the second core (and more) for the work a copy does beside reading and writing:
 * checking each blob's digest and a compressed layer's diffID as its bytes pass, and compressing
 * chunks of layers and outputs. The main thread copies; each chunk it copies is also put into a
 * slot of memory shared with one worker, which hashes (and decompresses) it there: no copy per
 * message, and at most SLOTS chunks per worker in flight (bounded memory; the copy waits for a
 * free slot when the checks fall behind). The bytes checked are the bytes written, never a second
 * read of the input.
 *
 * Small jobs run on the main thread (`CodecPool.inline`): starting a worker costs more than they
 * take. The single-file build carries the worker's program inside it (scripts/bundle.mjs), so no
 * other file is needed; the tests run the sources through tsx.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { compressChunk, ContentCheck, type CheckResult, type CheckSpec, type ChunkJob, type ChunkResult } from './codecs.js';
import type { ToWorker, WorkerInit } from './codec-worker.js';
import { zstdWasmBytes } from './zstd-encoder.js';

// The single-file build: the worker's program, bundled, gzip, base64 (scripts/bundle.mjs).
declare const IMGPACK_WORKER_SOURCE: string | undefined;

const SLOT_SIZE = 4 << 20;
const SLOTS = 4;

/** What a check of one blob's bytes offers its copy. */
export interface StreamCheck {
  /** The next chunk; the caller may reuse it once the returned promise (if any) settles. */
  write(chunk: Uint8Array): void | Promise<void>;
  end(): Promise<CheckResult>;
}

interface Slotted {
  worker: Worker;
  ring: SharedArrayBuffer;
  free: number[];
  waiting: (() => void)[];
  /** Bytes handed over and not yet checked, plus open streams: where the next stream goes. */
  load: number;
  pending: number;
  failed?: Error;
}

type Reply =
  | { t: 'free'; slot: number }
  | { t: 'result'; id: number; result: CheckResult }
  | { t: 'chunk'; id: number; result: ChunkResult }
  | { t: 'error'; id: number; message: string };

export class CodecPool {
  private readonly workers: Slotted[] = [];
  private readonly replies = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void; worker: Slotted }>();
  private nextId = 0;
  private closed = false;

  /** `size` workers (0: everything on the calling thread). */
  private constructor(readonly size: number) {}

  /** Workers for work of this many bytes: none below the threshold, else one per core (at most 4). */
  static forWork(bytes: number, threshold = 32 << 20): CodecPool {
    return new CodecPool(bytes < threshold ? 0 : CodecPool.cores());
  }

  static inline(): CodecPool {
    return new CodecPool(0);
  }

  static cores(): number {
    return Math.min(4, Math.max(1, availableParallelism()));
  }

  /** Compression has no main-thread work to overlap: at least one worker, one per core. */
  static forCompression(): CodecPool {
    return new CodecPool(CodecPool.cores());
  }

  async check(spec: CheckSpec): Promise<StreamCheck> {
    if (this.size === 0) return ContentCheck.open(spec);
    const w = this.pick();
    const id = this.nextId++;
    w.load += 1;
    this.hold(w);
    this.post(w, { t: 'open', id, spec });
    let bytes = 0;
    return {
      write: (chunk) => {
        let offset = 0;
        const next = (): void | Promise<void> => {
          while (offset < chunk.length) {
            if (w.failed) throw w.failed;
            const slot = w.free.pop();
            if (slot === undefined) return new Promise<void>((r) => w.waiting.push(r)).then(next);
            const n = Math.min(SLOT_SIZE, chunk.length - offset);
            new Uint8Array(w.ring, slot * SLOT_SIZE, n).set(chunk.subarray(offset, offset + n));
            offset += n;
            bytes += n;
            w.load += n;
            this.post(w, { t: 'data', id, slot, length: n });
          }
        };
        return next();
      },
      end: () => {
        const done = this.request<CheckResult>(w, id, { t: 'end', id });
        return done.finally(() => {
          w.load -= bytes + 1;
          this.release(w);
        });
      },
    };
  }

  compress(job: ChunkJob): Promise<ChunkResult> {
    if (this.size === 0) return compressChunk(job);
    const w = this.workers.length < this.size ? this.spawn() : this.workers.reduce((a, b) => (b.pending < a.pending ? b : a));
    const id = this.nextId++;
    const transfer = job.data.byteOffset === 0 && job.data.byteLength === job.data.buffer.byteLength ? [job.data.buffer as ArrayBuffer] : [];
    return this.request<ChunkResult>(w, id, { t: 'chunk', id, job }, transfer);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers.length = 0;
  }

  /** The least loaded worker, starting one while there are fewer than `size`. */
  private pick(): Slotted {
    if (this.workers.length < this.size) return this.spawn();
    return this.workers.reduce((a, b) => (b.load < a.load ? b : a));
  }

  private spawn(): Slotted {
    const ring = new SharedArrayBuffer(SLOT_SIZE * SLOTS);
    const init: WorkerInit = { ring, slotSize: SLOT_SIZE, zstdWasm: zstdWasmBytes() };
    const worker = startWorker(init);
    worker.unref(); // referenced only while it has work (post)
    const w: Slotted = { worker, ring, free: Array.from({ length: SLOTS }, (_, i) => i), waiting: [], load: 0, pending: 0 };
    worker.on('message', (m: Reply) => this.onReply(w, m));
    const fail = (e: Error) => {
      w.failed = e;
      for (const [id, r] of this.replies) if (r.worker === w) { this.replies.delete(id); r.reject(e); }
      for (const wake of w.waiting.splice(0)) wake();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => { if (!this.closed) fail(new Error(`a codec worker stopped (exit ${code})`)); });
    this.workers.push(w);
    return w;
  }

  private onReply(w: Slotted, m: Reply): void {
    if (m.t === 'free') {
      w.free.push(m.slot);
      w.waiting.shift()?.();
      return;
    }
    const r = this.replies.get(m.id);
    if (!r) return;
    this.replies.delete(m.id);
    this.release(w);
    if (m.t === 'error') r.reject(new Error(m.message));
    else r.resolve(m.result as never);
  }

  /** A worker keeps the process alive only while something waits for it. */
  private hold(w: Slotted): void {
    if (w.pending++ === 0) w.worker.ref();
  }

  private release(w: Slotted): void {
    if (--w.pending === 0) w.worker.unref();
  }

  private post(w: Slotted, m: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (w.failed) throw w.failed;
    w.worker.postMessage(m, transfer);
  }

  private request<T>(w: Slotted, id: number, m: ToWorker, transfer: ArrayBuffer[] = []): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.replies.set(id, { resolve: resolve as (v: never) => void, reject, worker: w });
      this.hold(w);
      try {
        this.post(w, m, transfer);
      } catch (e) {
        this.replies.delete(id);
        this.release(w);
        reject(e as Error);
      }
    });
  }
}

function startWorker(init: WorkerInit): Worker {
  if (typeof IMGPACK_WORKER_SOURCE === 'string') {
    return new Worker(gunzipSync(Buffer.from(IMGPACK_WORKER_SOURCE, 'base64')).toString(), { eval: true, workerData: init });
  }
  if (import.meta.url.endsWith('.ts')) {
    // The sources, as the tests run them: tsx compiles the worker's modules too.
    const tsx = createRequire(import.meta.url).resolve('tsx/esm/api');
    const entry = new URL('./codec-worker.ts', import.meta.url).href;
    return new Worker(`require(${JSON.stringify(tsx)}).register(); import(${JSON.stringify(entry)});`, { eval: true, workerData: init });
  }
  return new Worker(new URL('./codec-worker.js', import.meta.url), { workerData: init });
}
