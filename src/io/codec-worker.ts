/**
 * A codec worker (io/workers.ts starts them): checks blobs as they pass and compresses chunks,
 * beside the main thread's copy. Messages are handled one at a time, in the order sent, so the
 * chunks of one blob are checked in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compressChunk, ContentCheck, type ChunkJob, type CheckSpec } from './codecs.js';
import { setZstdWasm } from './zstd-encoder.js';

/**
 * A check is opened by its first `data` (which carries `spec`) and ends with the `data` marked
 * `end` (a blob of one chunk is one message each way); `slot` -1 is no bytes.
 */
export type ToWorker =
  | { t: 'data'; id: number; slot: number; length: number; spec?: CheckSpec; end?: boolean }
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
    case 'data': {
      let check = checks.get(m.id);
      if (!check && m.spec) checks.set(m.id, (check = await ContentCheck.open(m.spec)));
      try {
        if (m.slot >= 0) await check?.write(new Uint8Array(init.ring, m.slot * init.slotSize, m.length));
      } catch (e) {
        if (m.slot >= 0) port.postMessage({ t: 'free', slot: m.slot });
        throw e;
      }
      if (!m.end) {
        if (m.slot >= 0) port.postMessage({ t: 'free', slot: m.slot });
        return;
      }
      checks.delete(m.id);
      port.postMessage({ t: 'result', id: m.id, slot: m.slot, result: await check!.end() });
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
