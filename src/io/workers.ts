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
  /**
   * A buffer to read the next chunk into (memory the worker reads directly: no copy), for a
   * caller that is done with each chunk before it reads the next. Absent on the main thread.
   */
  buffer?: () => Buffer | Promise<Buffer>;
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
  /** A Buffer over each slot, for reading into. */
  views: Buffer[];
}

type Reply =
  | { t: 'free'; slot: number }
  | { t: 'result'; id: number; slot: number; result: CheckResult }
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

  /** A check of `length` bytes (the last chunk ends it: the result is on its way then). */
  async check(spec: CheckSpec, length: number): Promise<StreamCheck> {
    if (this.size === 0) return ContentCheck.open(spec);
    const w = this.pick();
    const id = this.nextId++;
    w.load += length + 1;
    let sent = 0;
    let first = true;
    let result: Promise<CheckResult> | undefined;
    const send = (slot: number, n: number) => {
      sent += n;
      const end = sent >= length;
      const m: ToWorker = { t: 'data', id, slot, length: n, ...(first ? { spec } : {}), ...(end ? { end } : {}) };
      first = false;
      if (end) {
        result = this.request<CheckResult>(w, id, m);
        result.catch(() => {}).finally(() => { w.load -= length + 1; });
      } else this.post(w, m);
    };
    const acquire = (): number | Promise<number> => {
      if (w.failed) throw w.failed;
      const slot = w.free.pop();
      if (slot !== undefined) return slot;
      return new Promise<void>((r) => w.waiting.push(r)).then(acquire);
    };
    return {
      buffer: () => {
        const slot = acquire();
        return typeof slot === 'number' ? w.views[slot] : slot.then((s) => w.views[s]);
      },
      write: (chunk) => {
        if (chunk.buffer === w.ring) {
          send(Math.floor(chunk.byteOffset / SLOT_SIZE), chunk.length); // read into a slot: no copy
          return;
        }
        let offset = 0;
        const next = (): void | Promise<void> => {
          while (offset < chunk.length) {
            const slot = acquire();
            if (typeof slot !== 'number') return slot.then((s) => { w.free.push(s); }).then(next);
            const n = Math.min(SLOT_SIZE, chunk.length - offset);
            w.views[slot].set(chunk.subarray(offset, offset + n));
            offset += n;
            send(slot, n);
          }
        };
        return next();
      },
      end: () => {
        if (!result) send(-1, 0); // fewer bytes than announced (none): the check says what it saw
        return result!;
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

  /**
   * The least loaded worker (bytes of checks not yet answered), starting one while there are
   * fewer than `size`; ties go round in turn, so that small blobs, each answered before the next
   * starts, still spread over every worker.
   */
  private pick(): Slotted {
    if (this.workers.length < this.size) return this.spawn();
    this.turn = (this.turn + 1) % this.workers.length;
    let best = this.workers[this.turn];
    for (const w of this.workers) if (w.load < best.load) best = w;
    return best;
  }

  private turn = 0;

  private spawn(): Slotted {
    const ring = new SharedArrayBuffer(SLOT_SIZE * SLOTS);
    const init: WorkerInit = { ring, slotSize: SLOT_SIZE, zstdWasm: zstdWasmBytes() };
    const worker = startWorker(init);
    worker.unref(); // referenced only while it has work (post)
    const views = Array.from({ length: SLOTS }, (_, i) => Buffer.from(ring, i * SLOT_SIZE, SLOT_SIZE));
    const w: Slotted = { worker, ring, free: Array.from({ length: SLOTS }, (_, i) => i), waiting: [], load: 0, pending: 0, views };
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
    if (m.t === 'free' || (m.t === 'result' && m.slot >= 0)) {
      w.free.push(m.slot);
      w.waiting.shift()?.();
      if (m.t === 'free') return;
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
