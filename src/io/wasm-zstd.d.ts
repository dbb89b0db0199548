// @foxglove/wasm-zstd's Emscripten module factory ships no types. It compiles the reference zstd
// library; given the WebAssembly bytes (wasmBinary) it reads no file.
declare module '@foxglove/wasm-zstd/dist/wasm-zstd.js' {
  export interface ZstdModule {
    HEAPU8: Uint8Array;
    _malloc(size: number): number;
    _free(ptr: number): void;
    _compressBound(size: number): number;
    _compress(dst: number, dstCapacity: number, src: number, srcSize: number, level: number): number;
  }
  const factory: (overrides: { wasmBinary: Uint8Array; locateFile?: (p: string) => string }) => Promise<ZstdModule>;
  export default factory;
}
