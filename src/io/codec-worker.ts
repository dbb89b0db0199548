/**
 * A codec worker (io/workers.ts starts them): checks blobs as they pass and compresses chunks,
 * beside the main thread's copy. Messages are handled one at a time, in the order sent, so the
 * chunks of one blob are checked in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compressChunk, ContentCheck, type ChunkJob, type CheckSpec } from './codecs.js';
import { setZstdWasm } from './zstd-encoder.js';

export type ToWorker =
  | { t: 'open'; id: number; spec: CheckSpec }
  | { t: 'data'; id: number; slot: number; length: number }
  | { t: 'end'; id: number }
  | { t: 'chunk'; id: number; job: ChunkJob };

export interface WorkerInit {
  ring: SharedArrayBuffer;
  slotSize: number;
  zstdWasm?: Uint8Array;
}

const init = workerData as WorkerInit;
if (init.zstdWasm) setZstdWasm(init.zstdWasm);
const port = parentPort!;
const checks = new Map<number, ContentCheck>();
const queue: ToWorker[] = [];
let running = false;

port.on('message', (m: ToWorker) => {
  queue.push(m);
  if (!running) void drain();
});

async function drain(): Promise<void> {
  running = true;
  while (queue.length) {
    const m = queue.shift()!;
    try {
      await handle(m);
    } catch (e) {
      port.postMessage({ t: 'error', id: m.id, message: String((e as Error)?.message ?? e) });
    }
  }
  running = false;
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.t) {
    case 'open':
      checks.set(m.id, await ContentCheck.open(m.spec));
      return;
    case 'data': {
      const view = new Uint8Array(init.ring, m.slot * init.slotSize, m.length);
      try {
        await checks.get(m.id)?.write(view);
      } finally {
        port.postMessage({ t: 'free', slot: m.slot });
      }
      return;
    }
    case 'end': {
      const check = checks.get(m.id);
      checks.delete(m.id);
      if (check) port.postMessage({ t: 'result', id: m.id, result: await check.end() });
      return;
    }
    case 'chunk': {
      const r = await compressChunk(m.job);
      // Transferred, so the bytes must own their ArrayBuffer (zlib's may be a slice of a pool).
      const data = r.data.byteOffset === 0 && r.data.byteLength === r.data.buffer.byteLength ? r.data : new Uint8Array(r.data);
      port.postMessage({ t: 'chunk', id: m.id, result: { ...r, data } }, [data.buffer as ArrayBuffer]);
      return;
    }
  }
}
