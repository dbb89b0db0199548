/**
 * Compression by magic bytes (names and media types lie), and streaming decompressors that are
 * pure JavaScript or WebAssembly, so that imgpack stays one portable file: zlib for gzip, fzstd
 * for zstd, xz-decompress (WASM) for xz, unbzip2-stream for bzip2.
 */
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { invalid } from '../errors.js';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** Bytes needed to recognise every supported magic. */
export const MAGIC_LENGTH = 6;

export function sniffCompression(head: Uint8Array): Compression {
  const b = head;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 3 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return 'bzip2';
  if (b.length >= 6 && b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0x00) return 'xz';
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  return 'none';
}

/** A stream that decompresses `input`; errors name `subject`. */
export function decompress(input: Readable, compression: Compression, subject: string): Readable {
  let out: Readable;
  switch (compression) {
    case 'none':
      return input;
    case 'gzip':
      out = input.pipe(createGunzip());
      break;
    // The other decoders are imported when first needed (start-up time), by import() calls that
    // the single-file bundle resolves at build time.
    case 'zstd':
      out = decodeWith(input, async () => {
        const { Decompress } = await import('fzstd');
        return (i) => i.pipe(new ZstdDecompressStream(Decompress));
      });
      break;
    case 'xz':
      out = decodeWith(input, async () => {
        const m = await import('xz-decompress');
        const { XzReadableStream } = 'XzReadableStream' in m ? m : (m as { default: typeof m }).default;
        return (i) => {
          const web = Readable.toWeb(i) as unknown as ReadableStream<Uint8Array>;
          return Readable.fromWeb(new XzReadableStream(web) as unknown as import('node:stream/web').ReadableStream<Uint8Array>);
        };
      });
      break;
    case 'bzip2':
      out = decodeWith(input, async () => {
        const { default: bz2 } = await import('unbzip2-stream');
        return (i) => i.pipe(bz2()) as unknown as Readable;
      });
      break;
  }
  input.on('error', (e) => out.destroy(e));
  // Decoders throw their own words; the user needs to know which input was damaged, and how:
  // data that stops short (a cut copy) is not data that is wrong.
  const wrapped = new Transform({ transform(chunk, _enc, cb) { cb(null, chunk); } });
  out.on('error', (e: Error) => wrapped.destroy(e instanceof Error && (e as { code?: string }).code === 'IMGPACK' ? e
    : endsEarly(compression, e) ? invalid(ENDS_EARLY, `the ${compression} data ends early: it was cut short`, subject)
      : invalid('corrupt-compression', `${compression} data is corrupt: ${e.message.split('\n')[0]}`, subject)));
  out.pipe(wrapped);
  return wrapped;
}

/** The code of the error a decoder gives when its input stops before the compressed data ends. */
export const ENDS_EARLY = 'compression-ends-early';

/**
 * How each decoder says that its input stopped short (measured on cut files): zlib "unexpected
 * end of file", fzstd "unexpected EOF", xz-embedded XZ_BUF_ERROR (8: no progress possible),
 * unbzip2-stream a TypeError reading past the last byte. Damaged data says something else.
 */
function endsEarly(compression: Compression, e: Error): boolean {
  const m = e.message ?? '';
  switch (compression) {
    case 'gzip': return (e as NodeJS.ErrnoException).code === 'Z_BUF_ERROR' || /unexpected end of file/.test(m);
    case 'zstd': return /unexpected EOF/.test(m);
    case 'xz': return /error code 8\b/.test(m);
    case 'bzip2': return e instanceof TypeError && /reading '0'/.test(m);
    default: return false;
  }
}

/** The output of a decoder that is loaded asynchronously, returned at once. */
function decodeWith(input: Readable, load: () => Promise<(input: Readable) => Readable>): Readable {
  const out = new PassThrough();
  load().then((make) => {
    const decoded = make(input);
    decoded.on('error', (e) => out.destroy(e));
    decoded.pipe(out);
  }, (e: Error) => out.destroy(e));
  return out;
}

class ZstdDecompressStream extends Transform {
  private readonly decoder: import('fzstd').Decompress;
  private sawInput = false;
  constructor(Decompress: typeof import('fzstd').Decompress) {
    super();
    this.decoder = new Decompress((data) => { this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength)); });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.sawInput = true;
      this.decoder.push(chunk);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      if (this.sawInput) this.decoder.push(new Uint8Array(0), true);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
}
