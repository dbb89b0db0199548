/**
 * A read-only tree of named files: the members of an uncompressed tar file (opened by byte range,
 * never read through) or the files of a directory. Readers of every format work on this, so a
 * format is read the same way whether it arrived as a tar, a directory, compressed or on stdin.
 * Links are followed inside the tree only: a link that leaves it, or loops, is a problem.
 */
import { closeSync, createReadStream, openSync, read as fsRead, readSync, realpathSync } from 'node:fs';
import { lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { invalid } from '../errors.js';
import { indexTarFile, normalizeMemberName, type TarEntry, type TarIndexProblem } from './tar-index.js';

export interface TreeFile {
  /** The name asked for, and the name of the file that holds the bytes after following links. */
  name: string;
  target: string;
  size: number;
}

export type Resolution = { ok: true; file: TreeFile } | { ok: false; reason: 'missing' | 'escapes' | 'loop' | 'not-a-file'; message: string };

export interface FileTree {
  readonly kind: 'tar' | 'dir';
  /** The path of the tar file (spooled or not) or directory. */
  readonly path: string;
  /** Problems found while indexing (tar only). */
  readonly problems: readonly TarIndexProblem[];
  /** Every regular file, symlink and hardlink name (normalised). */
  names(): string[];
  /** Symlinks and hardlinks with their targets, for verify. */
  links(): { name: string; type: 'symlink' | 'hardlink'; target: string }[];
  exists(name: string): boolean;
  resolve(name: string): Promise<Resolution>;
  /** A stream of bytes [start, end) of a resolved file. */
  openRange(file: TreeFile, start?: number, end?: number): Readable;
  /** The first `length` bytes of a resolved file. */
  head(file: TreeFile, length: number): Promise<Buffer>;
  /** The file on disk and the offset where this file's bytes start, for direct reads. */
  location(file: TreeFile): { path: string; start: number };
  close(): Promise<void>;
}

const MAX_LINK_HOPS = 40;

export class TarTree implements FileTree {
  readonly kind = 'tar';
  private readonly byName = new Map<string, TarEntry>();
  private constructor(readonly path: string, readonly problems: readonly TarIndexProblem[], entries: TarEntry[], private readonly onClose?: () => void) {
    for (const e of entries) if (e.name) this.byName.set(e.name, e); // last one wins, as extraction does
  }

  static async open(path: string, onClose?: () => void): Promise<TarTree> {
    const index = await indexTarFile(path);
    return new TarTree(path, index.problems, index.entries, onClose);
  }

  names(): string[] {
    return [...this.byName.values()].filter((e) => e.type === 'file' || e.type === 'symlink' || e.type === 'hardlink').map((e) => e.name);
  }

  links() {
    return [...this.byName.values()]
      .filter((e) => e.type === 'symlink' || e.type === 'hardlink')
      .map((e) => ({ name: e.name, type: e.type as 'symlink' | 'hardlink', target: e.linkname ?? '' }));
  }

  exists(name: string): boolean {
    return this.byName.has(normalizeMemberName(name));
  }

  async resolve(name: string): Promise<Resolution> {
    let current = normalizeMemberName(name);
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const e = this.byName.get(current);
      if (!e) return { ok: false, reason: 'missing', message: hop === 0 ? 'no such member' : `link target ${current} is missing` };
      if (e.type === 'file') return { ok: true, file: { name, target: e.name, size: e.size } };
      if (e.type !== 'symlink' && e.type !== 'hardlink') return { ok: false, reason: 'not-a-file', message: `member is a ${e.type}, not a file` };
      const link = e.linkname ?? '';
      // Symlinks are relative to the member's folder; hardlinks name a member of the archive.
      const next = e.type === 'hardlink' ? link : link.startsWith('/') ? link : posix.join(posix.dirname(e.name), link);
      if (next.startsWith('/') || posix.normalize(next).split('/')[0] === '..') {
        return { ok: false, reason: 'escapes', message: `${e.type} ${e.name} -> ${link} points outside the archive` };
      }
      current = normalizeMemberName(posix.normalize(next));
    }
    return { ok: false, reason: 'loop', message: 'links loop' };
  }

  private entryOf(file: TreeFile): TarEntry {
    const e = this.byName.get(file.target);
    if (!e) throw invalid('missing-member', 'no such member', file.name);
    return e;
  }

  location(file: TreeFile): { path: string; start: number } {
    return { path: this.path, start: this.entryOf(file).dataOffset };
  }

  openRange(file: TreeFile, start = 0, end = file.size): Readable {
    const e = this.entryOf(file);
    if (end <= start) return emptyStream();
    // Thousands of members share one descriptor: no open/close per blob.
    this.fd ??= openSync(this.path, 'r');
    return rangeStream(this.fd, e.dataOffset + start, e.dataOffset + end);
  }

  private fd?: number;

  async head(file: TreeFile, length: number): Promise<Buffer> {
    const e = this.entryOf(file);
    // Small reads (sniffing, JSON) share one descriptor and read synchronously: thousands of
    // layers cost one open() and no thread-pool round trips.
    this.fd ??= openSync(this.path, 'r');
    const buf = Buffer.alloc(Math.min(length, e.size));
    const bytesRead = readSync(this.fd, buf, 0, buf.length, e.dataOffset);
    return buf.subarray(0, bytesRead);
  }

  async close(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.onClose?.();
  }
}

export class DirTree implements FileTree {
  readonly kind = 'dir';
  readonly problems: readonly TarIndexProblem[] = [];
  private readonly realRoot: string;
  private listing?: { names: string[]; links: { name: string; type: 'symlink'; target: string }[] };
  private nameSet = new Set<string>();
  constructor(readonly path: string) {
    this.realRoot = realpathSync(path);
  }

  static async open(path: string): Promise<DirTree> {
    const tree = new DirTree(path);
    tree.listing = await listDir(tree.realRoot);
    tree.nameSet = new Set(tree.listing.names);
    return tree;
  }

  names(): string[] {
    return this.listing?.names ?? [];
  }

  links() {
    return this.listing?.links ?? [];
  }

  exists(name: string): boolean {
    return this.nameSet.has(normalizeMemberName(name));
  }

  async resolve(name: string): Promise<Resolution> {
    const rel = normalizeMemberName(name);
    if (rel.split('/').includes('..')) return { ok: false, reason: 'escapes', message: 'path climbs out of the directory' };
    const full = join(this.realRoot, rel);
    let real: string;
    try {
      real = await realpath(full);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') return { ok: false, reason: 'loop', message: 'links loop' };
      return { ok: false, reason: 'missing', message: 'no such file' };
    }
    const inside = relative(this.realRoot, real);
    if (inside.startsWith('..') || inside === '' && rel !== '') return { ok: false, reason: 'escapes', message: `${rel} points outside the layout` };
    const st = await lstat(real);
    if (!st.isFile()) return { ok: false, reason: 'not-a-file', message: st.isDirectory() ? 'is a directory, not a file' : 'not a regular file' };
    return { ok: true, file: { name: rel, target: inside.split(sep).join('/'), size: st.size } };
  }

  location(file: TreeFile): { path: string; start: number } {
    return { path: join(this.realRoot, file.target), start: 0 };
  }

  openRange(file: TreeFile, start = 0, end = file.size): Readable {
    if (end <= start) return emptyStream();
    return createReadStream(join(this.realRoot, file.target), { start, end: end - 1, highWaterMark: 4 << 20 });
  }

  async head(file: TreeFile, length: number): Promise<Buffer> {
    return readAt(join(this.realRoot, file.target), 0, Math.min(length, file.size));
  }

  async close(): Promise<void> {}
}

async function listDir(root: string) {
  const names: string[] = [];
  const links: { name: string; type: 'symlink'; target: string }[] = [];
  async function walk(rel: string, depth: number): Promise<void> {
    if (depth > 64) return;
    const dirents = await readdir(join(root, rel), { withFileTypes: true });
    for (const d of dirents) {
      const name = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) await walk(name, depth + 1);
      else if (d.isSymbolicLink()) {
        names.push(name);
        links.push({ name, type: 'symlink', target: await readlink(join(root, name)) });
      } else if (d.isFile()) names.push(name);
    }
  }
  await walk('', 0);
  return { names, links };
}

async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, position);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

const CHUNK = 1 << 20;

/** Reads [start, end) of an open file with positional reads; the descriptor stays open. */
function rangeStream(fd: number, start: number, end: number): Readable {
  let pos = start;
  return new Readable({
    highWaterMark: 4 * CHUNK,
    read() {
      const length = Math.min(CHUNK, end - pos);
      if (length <= 0) {
        this.push(null);
        return;
      }
      const buf = Buffer.allocUnsafe(length);
      fsRead(fd, buf, 0, length, pos, (err, n) => {
        if (err) return this.destroy(err);
        if (n === 0) return this.destroy(Object.assign(new Error('unexpected end of file'), { code: 'EIO' }));
        pos += n;
        this.push(n === length ? buf : buf.subarray(0, n));
      });
    },
  });
}

function emptyStream(): Readable {
  return Readable.from([]);
}
