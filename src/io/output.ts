/**
 * Where an archive is written: a tar file (to a temporary name beside it, fsynced, renamed when
 * complete), standard output, or a directory tree (a temporary directory beside it, renamed when
 * complete). Nothing appears under the final name until the output is whole; an abort removes the
 * temporary; an interrupt or exit removes it too (io/temp.ts).
 */
import { closeSync, createWriteStream, fsyncSync, mkdirSync, openSync, renameSync, rmdirSync, statSync, writeFileSync, type WriteStream } from 'node:fs';
import { open, readdir, stat, statfs, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Writable, type Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { fromSystemError, ImgpackError, usage } from '../errors.js';
import { FdSink, StreamSink, TarWriter } from './tar-writer.js';
import type { FileRange } from './file-range.js';
import { VolumeSink, type TransferManifest } from './volumes.js';

export type VolumeInfo = Omit<TransferManifest, 'kind' | 'version' | 'volumes' | 'size' | 'sha256'>;
import { registerTemp, releaseTemp, siblingTempName } from './temp.js';
import { cancelSignal, throwIfCancelled } from './cancel.js';
import { BackgroundSyncs, EarlyFlush, fsyncPath } from './atomic.js';

/** The members of an output, written in the order given (which must be deterministic). */
export interface TreeWriter {
  readonly kind: 'tar' | 'dir';
  addFile(name: string, data: Buffer): Promise<void>;
  addStream(name: string, size: number, data: AsyncIterable<Uint8Array>): Promise<void>;
  addRange(name: string, range: FileRange): Promise<void>;
  addDirectory(name: string): Promise<void>;
  addSymlink(name: string, target: string): Promise<void>;
  /** Makes the output appear under its final name. */
  commit(): Promise<void>;
  /** Removes whatever was written. */
  abort(): Promise<void>;
}

export class TarFileWriter implements TreeWriter {
  readonly kind = 'tar';
  private readonly tar: TarWriter;
  private readonly temp?: string;
  private readonly removeTemp?: () => void;
  private fd?: number;
  private flush?: EarlyFlush;
  /** The stream stages after the tar (gzip, a file or stdout), when there are any. */
  private readonly streamed?: { head: Writable; done: Promise<void> };

  private readonly volumes?: { sink: VolumeSink; info: VolumeInfo };
  /** Set after commit when the output was split into volumes. */
  transferManifest?: TransferManifest;

  /**
   * `target` is a file path, or '-' for standard output; `wrap` adds a compressor; `volumes`
   * splits the output into FILE.001, FILE.002, ... with FILE.imgpack.json.
   */
  constructor(private readonly target: string, wrap?: () => Transform, volumes?: { size: number; parity?: number; info: VolumeInfo }) {
    if (volumes) {
      if (target === '-') throw usage('usage', 'volumes are files: --volume-size needs -o FILE');
      const sink = new VolumeSink(target, volumes.size, volumes.parity ?? 0);
      this.volumes = { sink, info: volumes.info };
      if (!wrap) {
        this.tar = new TarWriter(sink);
        return;
      }
      const compressor = wrap();
      const dest = new Writable({ write(chunk: Buffer, _e, cb) { try { sink.write(chunk); cb(); } catch (e) { cb(e as Error); } } });
      const done = pipeline(compressor, dest);
      done.catch(() => {});
      this.streamed = { head: compressor, done };
      this.tar = new TarWriter(new StreamSink(compressor));
      return;
    }
    if (target !== '-') {
      this.temp = siblingTempName(target);
      this.removeTemp = registerTemp(this.temp);
      try {
        this.fd = openSync(this.temp, 'wx');
      } catch (e) {
        this.removeTemp();
        throw fromSystemError(e, target);
      }
      this.flush = new EarlyFlush(this.fd);
    }
    if (!wrap && this.fd !== undefined) {
      // The fast path: synchronous writes to the file, no stream between a blob and the disk.
      this.tar = new TarWriter(new FdSink(this.fd, this.flush));
      return;
    }
    const flush = this.flush;
    const dest: Writable = this.fd !== undefined ? new FlushingFileStream(this.fd, flush!) : process.stdout;
    const compressor = wrap?.();
    const head: Writable = compressor ?? dest;
    const done = compressor ? pipeline(compressor, dest, { end: target !== '-' }) : finished(dest);
    done.catch(() => {}); // observed in commit and in writes
    this.streamed = { head, done };
    this.tar = new TarWriter(new StreamSink(head));
  }

  addFile(name: string, data: Buffer): Promise<void> {
    return this.tar.addBuffer(name, data).catch(this.blame);
  }

  addStream(name: string, size: number, data: AsyncIterable<Uint8Array>): Promise<void> {
    return this.tar.addStream(name, size, data).catch(this.blame);
  }

  addRange(name: string, range: FileRange): Promise<void> {
    return this.tar.addRange(name, range).catch(this.blame);
  }

  addDirectory(name: string): Promise<void> {
    return this.tar.addDirectory(name).catch(this.blame);
  }

  addSymlink(name: string, target: string): Promise<void> {
    return this.tar.addSymlink(name, target).catch(this.blame);
  }

  /** Errors of our own making (ImgpackError) pass; a bare system error is the output's. */
  private readonly blame = (e: unknown): never => {
    throw e instanceof ImgpackError ? e : fromSystemError(e, this.target);
  };

  async commit(): Promise<void> {
    try {
      await this.tar.finish();
      if (this.streamed) {
        if (this.streamed.head !== process.stdout) {
          this.streamed.head.end();
          await this.streamed.done;
        }
        if (this.target === '-') await new Promise<void>((r) => (process.stdout.writableNeedDrain ? process.stdout.once('drain', () => r()) : r()));
      }
      if (this.volumes) {
        this.transferManifest = await this.volumes.sink.commit(this.volumes.info);
        return;
      }
      if (this.fd === undefined || !this.temp) return;
      await this.flush!.finish();
      closeSync(this.fd);
      this.fd = undefined;
      // The commit point: stopped before it, nothing appears; the rename itself cannot be cut.
      throwIfCancelled();
      renameSync(this.temp, this.target);
      releaseTemp(this.temp);
      await syncDir(dirname(resolve(this.target)));
    } catch (e) {
      await this.abort();
      throw e instanceof ImgpackError ? e : fromSystemError(e, this.target);
    }
  }

  async abort(): Promise<void> {
    this.volumes?.sink.abort();
    if (this.streamed && this.streamed.head !== process.stdout) this.streamed.head.destroy();
    await this.streamed?.done.catch(() => {});
    await this.flush?.settle();
    if (this.fd !== undefined) {
      try { closeSync(this.fd); } catch { /* already closed */ }
      this.fd = undefined;
    }
    this.removeTemp?.();
  }
}

export class DirWriter implements TreeWriter {
  readonly kind = 'dir';
  private readonly temp: string;
  private readonly removeTemp: () => void;
  private created = new Set<string>();
  /** Each file is fsynced in the background once written; the directories at commit. */
  private readonly syncs = new BackgroundSyncs();

  constructor(private readonly target: string) {
    this.temp = siblingTempName(target.replace(/\/+$/, ''));
    this.removeTemp = registerTemp(this.temp);
  }

  private async ensureDir(path: string): Promise<void> {
    if (this.created.has(path)) return;
    mkdirSync(path, { recursive: true });
    this.created.add(path);
  }

  async addFile(name: string, data: Buffer): Promise<void> {
    const p = join(this.temp, name);
    await this.ensureDir(dirname(p));
    writeFileSync(p, data, { flag: 'wx' });
    await this.syncs.add(p);
  }

  async addStream(name: string, size: number, data: AsyncIterable<Uint8Array>): Promise<void> {
    const p = join(this.temp, name);
    await this.ensureDir(dirname(p));
    let written = 0;
    const out: WriteStream = createWriteStream(p, { flags: 'wx' });
    await pipeline(async function* () {
      for await (const chunk of data) {
        written += chunk.length;
        yield chunk;
      }
    }, out, { signal: cancelSignal });
    if (written !== size) throw usage('size-mismatch', `wrote ${written} bytes, expected ${size}`, name);
    await this.syncs.add(p);
  }

  async addRange(name: string, range: FileRange): Promise<void> {
    const p = join(this.temp, name);
    await this.ensureDir(dirname(p));
    // Synchronous positional copy, as for tar files: no round trips per chunk.
    const fd = openSync(p, 'wx');
    try {
      await new TarWriter(new FdSink(fd)).copyRange(range);
    } finally {
      closeSync(fd);
    }
    await this.syncs.add(p);
  }

  async addDirectory(name: string): Promise<void> {
    await this.ensureDir(join(this.temp, name));
  }

  async addSymlink(name: string, target: string): Promise<void> {
    const p = join(this.temp, name);
    await this.ensureDir(dirname(p));
    await symlink(target, p);
  }

  async commit(): Promise<void> {
    await this.ensureDir(this.temp);
    try {
      // Durable before it appears, as a tar output: the files, then their directories.
      await this.syncs.finish();
      for (const d of [...this.created].sort((a, b) => b.length - a.length)) fsyncPath(d);
      // An existing empty directory is replaced; a non-empty one was refused before writing.
      // Synchronous from the check to the rename: a signal comes before (nothing) or after (whole).
      throwIfCancelled();
      try {
        rmdirSync(this.target);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      renameSync(this.temp, this.target.replace(/\/+$/, ''));
      releaseTemp(this.temp);
      await syncDir(dirname(resolve(this.target.replace(/\/+$/, ''))));
    } catch (e) {
      this.removeTemp();
      throw fromSystemError(e, this.target);
    }
  }

  async abort(): Promise<void> {
    await this.syncs.finish().catch(() => {});
    this.removeTemp();
  }
}

/** A file as a stream (behind a compressor), flushed early as EarlyFlush says. */
class FlushingFileStream extends Writable {
  constructor(private readonly fd: number, private readonly flush: EarlyFlush) {
    super({ highWaterMark: 4 << 20 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    try {
      new FdSink(this.fd, this.flush).write(chunk);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    await fh.sync().catch(() => {});
    await fh.close();
  } catch {
    // Not every file system lets a directory be opened for fsync; the rename is still atomic.
  }
}

/** Fails early (exit 2) when the destination's file system has less free space than needed. */
export async function checkFreeSpace(target: string, bytesNeeded: number): Promise<void> {
  if (target === '-' || bytesNeeded <= 0) return;
  const folder = dirname(resolve(target.replace(/\/+$/, '')));
  try {
    const s = await statfs(folder);
    const free = Number(s.bavail) * Number(s.bsize);
    if (free < bytesNeeded) {
      throw usage('no-space', `not enough free space: ${bytesNeeded} bytes needed, ${free} available`, folder);
    }
  } catch (e) {
    if ((e as { code?: string }).code === 'no-space') throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw usage('enoent', 'no such directory', folder);
  }
}

/** Refuses an output directory that exists and is not empty. */
export async function checkOutputDir(target: string): Promise<void> {
  try {
    const st = await stat(target);
    if (!st.isDirectory()) throw usage('output-exists', 'output exists and is not a directory', target);
    if ((await readdir(target)).length > 0) throw usage('output-exists', 'output directory is not empty', target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
}


/** `-o DIR/` or an existing directory: the output is a directory (CLI.md), not a file. */
export function isDirectoryOutput(target: string): boolean {
  if (target.endsWith('/')) return true;
  if (target === '-') return false;
  try {
    return statSync(target).isDirectory();
  } catch {
    return false;
  }
}
