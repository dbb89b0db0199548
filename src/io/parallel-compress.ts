/**
 * gzip and zstd compression spread over the codec workers (io/workers.ts): the input is cut into
 * fixed-size chunks, each compressed by whichever worker is free, and the results are written in
 * input order. The cut depends only on byte positions, so the output is the same bytes whatever
 * the number of workers or their timing.
 * - gzip: one gzip member; each chunk is a raw deflate primed with the 32 KiB before it and ended
 *   with a sync flush (the last one ends the stream), as pigz does; the trailer's CRC-32 is
 *   combined from the chunks' CRCs.
 * - zstd: one frame per chunk, the frames concatenated (a valid zstd stream, which every zstd
 *   reader decodes whole).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { crc32Combine, type ChunkCodec, type ChunkResult } from './codecs.js';
import type { CodecPool } from './workers.js';

export interface CompressOptions {
  codec: ChunkCodec;
  level: number;
  pool: CodecPool;
  /** Bytes of input per chunk (default: 1 MiB for gzip, 4 MiB for zstd). */
  chunkSize?: number;
}

const WINDOW = 32 << 10;
// What Node's zlib writes: no name, no mtime, OS = Unix. Fixed, so that outputs are reproducible.
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);

export const DEFAULT_LEVEL: Record<ChunkCodec, number> = { gzip: 6, zstd: 3 };

export function parallelCompressor(opts: CompressOptions): Transform {
  return new ParallelCompressor(opts);
}

class ParallelCompressor extends Transform {
  private readonly chunkSize: number;
  private buf: Uint8Array;
  private filled = 0;
  private dictionary?: Uint8Array;
  private readonly inflight: { result: Promise<ChunkResult>; length: number }[] = [];
  private readonly maxInflight: number;
  private crc = 0;
  private total = 0;
  private started = false;

  constructor(private readonly opts: CompressOptions) {
    super();
    this.chunkSize = opts.chunkSize ?? (opts.codec === 'gzip' ? 1 << 20 : 4 << 20);
    this.buf = new Uint8Array(this.chunkSize);
    this.maxInflight = Math.max(2, opts.pool.size * 2);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.accept(chunk).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    this.finish().then(() => cb(), cb);
  }

  private async accept(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.chunkSize - this.filled, chunk.length - off);
      this.buf.set(chunk.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === this.chunkSize) await this.dispatch(false);
    }
  }

  /** Hands the chunk being filled to a worker; waits while too many are in flight. */
  private async dispatch(last: boolean): Promise<void> {
    const data = this.filled === this.buf.length ? this.buf : this.buf.slice(0, this.filled);
    const length = this.filled;
    const dictionary = this.dictionary;
    if (this.opts.codec === 'gzip') this.dictionary = data.slice(Math.max(0, length - WINDOW), length);
    this.buf = new Uint8Array(this.chunkSize); // the old one is transferred to the worker
    this.filled = 0;
    const result = this.opts.pool.compress({ codec: this.opts.codec, level: this.opts.level, data, dictionary, last });
    result.catch(() => {}); // observed in order below
    this.inflight.push({ result, length });
    while (this.inflight.length >= this.maxInflight) await this.emitOldest();
  }

  private async emitOldest(): Promise<void> {
    const { result, length } = this.inflight.shift()!;
    const r = await result;
    if (this.opts.codec === 'gzip') {
      if (!this.started) this.push(GZIP_HEADER);
      this.crc = this.total === 0 ? r.crc! : crc32Combine(this.crc, r.crc!, length);
    }
    this.started = true;
    this.total += length;
    this.push(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength));
  }

  private async finish(): Promise<void> {
    // gzip always ends with a last (maybe empty) chunk that ends the deflate stream; zstd needs
    // a frame only for what is left, or for an empty input.
    if (this.opts.codec === 'gzip' || this.filled > 0 || (this.inflight.length === 0 && !this.started)) await this.dispatch(true);
    while (this.inflight.length) await this.emitOldest();
    if (this.opts.codec === 'gzip') {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.total % 2 ** 32, 4);
      this.push(trailer);
    }
  }
}
