/**
 * A deterministic tar writer: ustar headers, PAX records for long or non-ASCII names and for
 * sizes of 8 GiB and more (with a base-256 size field too, for readers that skip PAX), fixed
 * mtimes, owners and modes unless asked. It writes to a ByteSink: a file descriptor with
 * synchronous writes (the fast path: no stream machinery between a blob and the disk), a
 * writable stream with backpressure (standard output, a gzip wrapper), or memory (tests).
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { invalid } from '../errors.js';
import { checkpoint, throwIfCancelled } from './cancel.js';

export interface EntryOptions {
  mode?: number;
  mtime?: Date;
  uid?: number;
  gid?: number;
}

export interface ByteRange {
  segments: { path: string; start: number; length: number }[];
  length: number;
  /** Sees each chunk before it is passed on; a promise it returns is waited for (backpressure). */
  tap?: (chunk: Buffer) => void | Promise<void>;
  /**
   * Where to read the next chunk into, for a reader that is done with each chunk before it reads
   * the next (memory a checking worker reads directly).
   */
  buffer?: () => Buffer | Promise<Buffer>;
  done?: () => void;
}

/**
 * The bytes of a file range in chunks, by positional reads, each shown to the range's tap; its
 * `done` check runs after the last one. With `reuse`, every chunk is that one buffer: the caller
 * must be done with a chunk before asking for the next.
 */
export async function* readRange(range: ByteRange, name = range.segments[0]?.path ?? '', reuse?: Buffer): AsyncGenerator<Buffer> {
  for (const seg of range.segments) {
    const fd = openSync(seg.path, 'r');
    try {
      for (let pos = seg.start, end = seg.start + seg.length; pos < end;) {
        await checkpoint(); // the reads and writes are synchronous: signals come in here
        const buf = reuse ? (range.buffer ? await range.buffer() : reuse) : Buffer.allocUnsafe(Math.min(COPY_CHUNK, end - pos));
        const n = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
        if (n === 0) throw invalid('truncated', `input ends ${end - pos} bytes early`, name);
        const chunk = buf.subarray(0, n);
        const tapped = range.tap?.(chunk);
        if (tapped) await tapped;
        yield chunk;
        pos += n;
      }
    } finally {
      closeSync(fd);
    }
  }
  range.done?.();
}

/** Where the bytes of the tar go. */
export interface ByteSink {
  write(buf: Buffer): void | Promise<void>;
}

const BLOCK = 512;
const ZEROS = Buffer.alloc(BLOCK * 2);
const MAX_OCTAL_SIZE = 0o77777777777;
const COPY_CHUNK = 4 << 20;

export class FdSink implements ByteSink {
  /** `flush` is told of every write (an output written back while it is copied: io/atomic.ts). */
  constructor(private readonly fd: number, private readonly flush?: { wrote(bytes: number): void }) {}
  write(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.flush?.wrote(buf.length);
  }
}

export class StreamSink implements ByteSink {
  constructor(private readonly stream: Writable) {}
  write(buf: Buffer): void | Promise<void> {
    if (this.stream.destroyed) throw this.stream.errored ?? new Error('output closed');
    if (this.stream.write(buf)) return;
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        this.stream.off('drain', onDrain);
        this.stream.off('error', done);
        this.stream.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(this.stream.errored ?? new Error('output closed'));
      this.stream.once('drain', onDrain);
      this.stream.once('error', done);
      this.stream.once('close', onClose);
    });
  }
}

export class MemorySink implements ByteSink {
  readonly chunks: Buffer[] = [];
  write(buf: Buffer): void {
    this.chunks.push(Buffer.from(buf));
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export class TarWriter {
  /** Bytes of content written, for progress and for checks against expectations. */
  bytesWritten = 0;

  constructor(private readonly sink: ByteSink) {}

  async addBuffer(name: string, data: Uint8Array | string, opts: EntryOptions = {}): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.sink.write(encodeHeader({ name, size: buf.length, type: '0', ...opts }));
    await this.sink.write(buf);
    await this.pad(buf.length);
    this.bytesWritten += buf.length;
  }

  async addDirectory(name: string, opts: EntryOptions = {}): Promise<void> {
    await this.sink.write(encodeHeader({ name: name.endsWith('/') ? name : `${name}/`, size: 0, type: '5', mode: 0o755, ...opts }));
  }

  async addSymlink(name: string, target: string, opts: EntryOptions = {}): Promise<void> {
    await this.sink.write(encodeHeader({ name, size: 0, type: '2', linkname: target, mode: 0o777, ...opts }));
  }

  /** Streams `size` bytes of `input` into one member; fewer or more bytes is an error. */
  async addStream(name: string, size: number, input: AsyncIterable<Uint8Array>, opts: EntryOptions = {}): Promise<void> {
    await this.sink.write(encodeHeader({ name, size, type: '0', ...opts }));
    let written = 0;
    for await (const chunk of input) {
      throwIfCancelled();
      written += chunk.length;
      if (written > size) throw invalid('size-mismatch', `blob is larger than the ${size} bytes expected`, name);
      await this.sink.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
    if (written !== size) throw invalid('size-mismatch', `blob has ${written} bytes, ${size} were expected`, name);
    await this.pad(size);
    this.bytesWritten += size;
  }

  /**
   * Copies a byte range of a file into one member with positional reads. To a file (FdSink)
   * one buffer is reused: each chunk is written before the next is read.
   */
  async addRange(name: string, range: ByteRange): Promise<void> {
    await this.sink.write(encodeHeader({ name, size: range.length, type: '0' }));
    await this.copyRange(range, name);
    await this.pad(range.length);
    this.bytesWritten += range.length;
  }

  /** The bytes of a file range, as they are, to the sink (no header). */
  async copyRange(range: ByteRange, name = range.segments[0]?.path ?? ''): Promise<void> {
    // To a file each chunk is written before the next is read: one buffer serves them all.
    const reuse = this.sink instanceof FdSink ? (this.copyBuffer ??= Buffer.allocUnsafe(COPY_CHUNK)) : undefined;
    for await (const chunk of readRange(range, name, reuse)) await this.sink.write(chunk);
  }


  private copyBuffer?: Buffer;

  /** The two zero blocks that end an archive. */
  async finish(): Promise<void> {
    await this.sink.write(ZEROS);
  }

  private async pad(size: number): Promise<void> {
    const rest = size % BLOCK;
    if (rest) await this.sink.write(ZEROS.subarray(0, BLOCK - rest));
  }
}

interface HeaderFields extends EntryOptions {
  name: string;
  size: number;
  type: '0' | '2' | '5' | 'x';
  linkname?: string;
}

/** The header block(s) of one member: a PAX block first when ustar cannot say it all. */
export function encodeHeader(h: HeaderFields): Buffer {
  const pax: Record<string, string> = {};
  let name = h.name;
  let prefix = '';
  if (!fitsUstar(name, 100)) {
    const split = splitForPrefix(name);
    if (split) [prefix, name] = split;
    else {
      pax.path = h.name;
      name = asciiTail(h.name, 100);
    }
  }
  let linkname = h.linkname ?? '';
  if (!fitsUstar(linkname, 100)) {
    pax.linkpath = linkname;
    linkname = asciiTail(linkname, 100);
  }
  if (h.size > MAX_OCTAL_SIZE) pax.size = String(h.size);
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 100, 'utf8');
  writeOctal(block, 100, 8, h.mode ?? 0o644);
  writeOctal(block, 108, 8, h.uid ?? 0);
  writeOctal(block, 116, 8, h.gid ?? 0);
  if (h.size > MAX_OCTAL_SIZE) writeBase256(block, 124, 12, h.size);
  else writeOctal(block, 124, 12, h.size);
  writeOctal(block, 136, 12, Math.floor((h.mtime?.getTime() ?? 0) / 1000));
  block.write(h.type, 156, 1, 'latin1');
  block.write(linkname, 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 8, 'latin1');
  block.write(prefix, 345, 155, 'utf8');
  writeChecksum(block);
  if (Object.keys(pax).length === 0) return block;
  const records = Buffer.from(Object.entries(pax).map(([k, v]) => paxRecord(k, v)).join(''), 'utf8');
  const paxHeader = encodeHeader({ name: asciiTail(`PaxHeaders/${h.name.split('/').pop()}`, 100), size: records.length, type: 'x' });
  const padded = Buffer.alloc(Math.ceil(records.length / BLOCK) * BLOCK);
  records.copy(padded);
  return Buffer.concat([paxHeader, padded, block]);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function fitsUstar(s: string, max: number): boolean {
  return Buffer.byteLength(s) <= max && /^[\x20-\x7e]*$/.test(s);
}

function splitForPrefix(name: string): [string, string] | undefined {
  if (!fitsUstar(name, 256)) return undefined;
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return [prefix, rest];
  }
  return undefined;
}

function asciiTail(s: string, max: number): string {
  const ascii = s.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length > max ? ascii.slice(ascii.length - max) : ascii;
}

function writeOctal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(value.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

function writeBase256(buf: Buffer, off: number, len: number, value: number): void {
  let v = BigInt(value);
  for (let i = off + len - 1; i > off; i--) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[off] = 0x80;
}

function writeChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i];
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
}
