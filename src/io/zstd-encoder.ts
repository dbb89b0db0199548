/**
 * The zstd encoder: the reference zstd library compiled to WebAssembly (@foxglove/wasm-zstd), so
 * that imgpack stays one file with no native module. docs/performance.md says why this one (speed,
 * size, bundle size, licence). One call compresses one whole frame; a parallel compressor cuts the
 * input into chunks and concatenates their frames (io/codecs.ts).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import type { ZstdModule } from '@foxglove/wasm-zstd/dist/wasm-zstd.js';

// The single-file build inlines the WebAssembly (gzip, base64): scripts/bundle.mjs.
declare const IMGPACK_ZSTD_WASM: string | undefined;

type Module = Awaited<ReturnType<typeof import('@foxglove/wasm-zstd/dist/wasm-zstd.js').default>>;
let loading: Promise<Module> | undefined;
let given: Uint8Array | undefined;

/** A worker is handed the WebAssembly by the thread that started it (it has no file to read). */
export function setZstdWasm(bytes: Uint8Array): void {
  given = bytes;
}

export const ZSTD_MIN_LEVEL = 1;
export const ZSTD_MAX_LEVEL = 19;

export function zstdWasmBytes(): Uint8Array {
  if (given) return given;
  if (typeof IMGPACK_ZSTD_WASM === 'string') return gunzipSync(Buffer.from(IMGPACK_ZSTD_WASM, 'base64'));
  const require = createRequire(import.meta.url);
  return readFileSync(require.resolve('@foxglove/wasm-zstd/dist/wasm-zstd.wasm'));
}

function load(): Promise<Module> {
  loading ??= import('@foxglove/wasm-zstd/dist/wasm-zstd.js').then((m) => {
    const factory = (m as unknown as { default?: typeof m.default }).default ?? (m as unknown as typeof m.default);
    return factory({ wasmBinary: zstdWasmBytes(), locateFile: (p) => p });
  });
  return loading;
}

/** One zstd frame holding `data`, at `level` (1-19). */
export async function zstdCompressFrame(data: Uint8Array, level: number): Promise<Uint8Array> {
  const z: ZstdModule = await load();
  const bound = z._compressBound(data.length);
  const src = z._malloc(Math.max(1, data.length));
  const dst = z._malloc(bound);
  try {
    z.HEAPU8.set(data, src);
    const n = z._compress(dst, bound, src, data.length, level);
    if (n < 0 || n > bound) throw new Error(`zstd compression failed (${n})`);
    // HEAPU8 may have been replaced when memory grew: read it after the call.
    return new Uint8Array(z.HEAPU8.subarray(dst, dst + n)); // a copy, in an ArrayBuffer of its own
  } finally {
    z._free(src);
    z._free(dst);
  }
}
