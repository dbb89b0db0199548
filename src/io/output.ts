/**
 * Where an archive is written: a tar file (to a temporary name beside it, fsynced, renamed when
 * complete), standard output, or a directory tree (a temporary directory beside it, renamed when
 * complete). Nothing appears under the final name until the output is whole; an abort removes the
 * temporary; an interrupt or exit removes it too (io/temp.ts).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rmdir, stat, statfs, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromSystemError, ImgpackError, usage } from '../errors.js';
import { TarWriter } from './tar-writer.js';
import { registerTemp, releaseTemp, siblingTempName } from './temp.js';

/** The members of an output, written in the order given (which must be deterministic). */
export interface TreeWriter {
  readonly kind: 'tar' | 'dir';
  addFile(name: string, data: Buffer): Promise<void>;
  addStream(name: string, size: number, data: AsyncIterable<Uint8Array>): Promise<void>;
  addDirectory(name: string): Promise<void>;
  addSymlink(name: string, target: string): Promise<void>;
  /** Makes the output appear under its final name. */
  commit(): Promise<void>;
  /** Removes whatever was written. */
  abort(): Promise<void>;
}

export class TarFileWriter implements TreeWriter {
  readonly kind = 'tar';
  private readonly tar = new TarWriter();
  private readonly done: Promise<void>;
  private readonly removeTemp?: () => void;
  private readonly temp?: string;

  /** `target` is a file path, or '-' for standard output. */
  constructor(private readonly target: string, wrap?: (tar: Readable) => Readable) {
    let sink: NodeJS.WritableStream;
    if (target === '-') {
      sink = process.stdout;
    } else {
      this.temp = siblingTempName(target);
      this.removeTemp = registerTemp(this.temp);
      sink = createWriteStream(this.temp, { flags: 'wx' });
    }
    const source = wrap ? wrap(this.tar.stream) : this.tar.stream;
    this.done = pipeline(source, sink, { end: target !== '-' }).catch((e) => {
      const err = fromSystemError(e, target);
      this.tar.fail(err); // unblock whoever is writing an entry: the copy stops with this error
      throw err;
    });
    this.done.catch(() => {}); // observed in commit/abort
  }

  addFile(name: string, data: Buffer): Promise<void> {
    return this.tar.addBuffer(name, data).catch(this.blame);
  }

  addStream(name: string, size: number, data: AsyncIterable<Uint8Array>): Promise<void> {
    return this.tar.addStream(name, size, data).catch(this.blame);
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
    this.tar.finalize();
    await this.done;
    if (!this.temp) return;
    try {
      const fh = await open(this.temp, 'r+');
      await fh.sync();
      await fh.close();
      await rename(this.temp, this.target);
      releaseTemp(this.temp);
      await syncDir(dirname(resolve(this.target)));
    } catch (e) {
      this.removeTemp?.();
      throw fromSystemError(e, this.target);
    }
  }

  async abort(): Promise<void> {
    this.tar.pack.destroy();
    await this.done.catch(() => {});
    this.removeTemp?.();
  }
}

export class DirWriter implements TreeWriter {
  readonly kind = 'dir';
  private readonly temp: string;
  private readonly removeTemp: () => void;
  private created = new Set<string>();

  constructor(private readonly target: string) {
    this.temp = siblingTempName(target.replace(/\/+$/, ''));
    this.removeTemp = registerTemp(this.temp);
  }

  private async ensureDir(path: string): Promise<void> {
    if (this.created.has(path)) return;
    await mkdir(path, { recursive: true });
    this.created.add(path);
  }

  async addFile(name: string, data: Buffer): Promise<void> {
    const p = join(this.temp, name);
    await this.ensureDir(dirname(p));
    await writeFile(p, data, { flag: 'wx' });
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
    }, out);
    if (written !== size) throw usage('size-mismatch', `wrote ${written} bytes, expected ${size}`, name);
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
      // An existing empty directory is replaced; a non-empty one was refused before writing.
      await rmdir(this.target).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
      await rename(this.temp, this.target.replace(/\/+$/, ''));
      releaseTemp(this.temp);
    } catch (e) {
      this.removeTemp();
      throw fromSystemError(e, this.target);
    }
  }

  async abort(): Promise<void> {
    this.removeTemp();
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

