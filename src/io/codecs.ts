/**
 * The work the codec workers do (io/workers.ts), as plain functions that also run on the main
 * thread when a job is too small to be worth a worker:
 * - a content check: hash a blob's bytes as they pass and, for a compressed layer, decompress and
 *   hash its content (the diffID), in bounded memory whatever the content inflates to;
 * - one chunk of a parallel compressor: a gzip chunk is a raw deflate of that chunk primed with the
 *   32 KiB before it and ended on a byte boundary (pigz's technique), so that the chunks
 *   concatenated are one deflate stream; a zstd chunk is one whole zstd frame (frames concatenated
 *   are one zstd stream). Both depend on the bytes alone, never on which worker ran them or when.
 */
import { createHash, type Hash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { zstdCompressFrame } from './zstd-encoder.js';

export type ContentCoding = 'none' | 'gzip' | 'zstd';

export interface CheckSpec {
  /** Digest algorithms of the bytes as stored. */
  algorithms: string[];
  /** Decompress (and sha256) the content: the diffID of a compressed layer. */
  content?: ContentCoding;
}

export interface CheckResult {
  size: number;
  stored: Record<string, string>;
  content?: string;
  contentSize?: number;
  /** Why the content could not be read (corrupt compression). */
  error?: string;
}

/** Hashes what passes and, when asked, what it decompresses to. */
export class ContentCheck {
  private readonly hashers: Hash[];
  private size = 0;
  private readonly contentHash?: Hash;
  private contentSize = 0;
  private error?: string;
  private gunzip?: zlib.Gunzip;
  private gunzipEnded?: Promise<void>;
  private zstd?: import('fzstd').Decompress;

  /** fzstd is loaded when first needed (start-up time). */
  static async open(spec: CheckSpec): Promise<ContentCheck> {
    return new ContentCheck(spec, spec.content === 'zstd' ? (await import('fzstd')).Decompress : undefined);
  }

  private constructor(private readonly spec: CheckSpec, ZstdDecoder?: typeof import('fzstd').Decompress) {
    this.hashers = spec.algorithms.map((a) => createHash(a));
    if (!spec.content || spec.content === 'none') return;
    const h = createHash('sha256');
    this.contentHash = h;
    const take = (c: Uint8Array) => { h.update(c); this.contentSize += c.length; };
    if (spec.content === 'gzip') {
      const g = zlib.createGunzip({ chunkSize: 256 << 10 });
      this.gunzip = g;
      g.on('data', take);
      this.gunzipEnded = new Promise<void>((resolve) => {
        g.on('end', () => resolve());
        g.on('error', (e: Error) => { this.error ??= `gzip data is corrupt: ${e.message}`; resolve(); });
      });
    } else {
      this.zstd = new ZstdDecoder!((chunk) => take(chunk));
    }
  }

  /**
   * The next bytes. The chunk may be reused by the caller as soon as the returned promise (if
   * any) settles: the decoders are given copies.
   */
  write(chunk: Uint8Array): void | Promise<void> {
    this.size += chunk.length;
    for (const h of this.hashers) h.update(chunk);
    if (this.error) return;
    if (this.zstd) {
      try {
        this.zstd.push(chunk.slice());
      } catch (e) {
        this.error = `zstd data is corrupt: ${(e as Error).message}`;
      }
      return;
    }
    const g = this.gunzip;
    if (g && !g.write(Buffer.from(chunk))) {
      return new Promise<void>((r) => {
        g.once('drain', () => r());
        void this.gunzipEnded!.then(() => r());
      });
    }
  }

  async end(): Promise<CheckResult> {
    if (this.gunzip) {
      if (!this.error) this.gunzip.end();
      await this.gunzipEnded;
    }
    if (this.zstd && !this.error) {
      try {
        this.zstd.push(new Uint8Array(0), true);
      } catch (e) {
        this.error = `zstd data is corrupt: ${(e as Error).message}`;
      }
    }
    const stored: Record<string, string> = {};
    this.spec.algorithms.forEach((a, i) => { stored[a] = `${a}:${this.hashers[i].digest('hex')}`; });
    const result: CheckResult = { size: this.size, stored };
    if (this.error) result.error = this.error;
    else if (this.contentHash) {
      result.content = `sha256:${this.contentHash.digest('hex')}`;
      result.contentSize = this.contentSize;
    }
    return result;
  }
}

export type ChunkCodec = 'gzip' | 'zstd';

export interface ChunkJob {
  codec: ChunkCodec;
  level: number;
  data: Uint8Array;
  /** gzip: the (up to) 32 KiB of input before this chunk. */
  dictionary?: Uint8Array;
  /** gzip: the last chunk ends the deflate stream. */
  last?: boolean;
}

export interface ChunkResult {
  data: Uint8Array;
  /** gzip: CRC-32 of the chunk's input, combined by the caller into the trailer's. */
  crc?: number;
}

export async function compressChunk(job: ChunkJob): Promise<ChunkResult> {
  if (job.codec === 'zstd') return { data: await zstdCompressFrame(job.data, job.level) };
  const data = zlib.deflateRawSync(job.data, {
    level: job.level,
    ...(job.dictionary && job.dictionary.length ? { dictionary: job.dictionary } : {}),
    // A sync flush ends the chunk on a byte boundary without ending the stream.
    finishFlush: job.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
  });
  return { data, crc: crc32(job.data) };
}

// ---- CRC-32 (gzip's), and combining the CRCs of consecutive pieces (zlib's crc32_combine) ----

let table: Uint32Array | undefined;
const nativeCrc = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

export function crc32(data: Uint8Array, value = 0): number {
  if (nativeCrc) return nativeCrc(data, value) >>> 0; // Node >= 20.15
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function gf2MatrixTimes(mat: Uint32Array, vec: number): number {
  let sum = 0;
  for (let i = 0; vec; i++, vec >>>= 1) if (vec & 1) sum ^= mat[i];
  return sum >>> 0;
}

function gf2MatrixSquare(square: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2MatrixTimes(mat, mat[n]);
}

/** The CRC-32 of A followed by B, from crc(A), crc(B) and B's length. */
export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  if (len2 <= 0) return crc1 >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = 0xedb88320;
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row >>> 0;
  gf2MatrixSquare(even, odd);
  gf2MatrixSquare(odd, even);
  let c = crc1 >>> 0;
  let len = len2;
  do {
    gf2MatrixSquare(even, odd);
    if (len % 2) c = gf2MatrixTimes(even, c);
    len = Math.floor(len / 2);
    if (!len) break;
    gf2MatrixSquare(odd, even);
    if (len % 2) c = gf2MatrixTimes(odd, c);
    len = Math.floor(len / 2);
  } while (len);
  return (c ^ crc2) >>> 0;
}
