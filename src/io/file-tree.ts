/**
 * A read-only tree of named files: the members of an uncompressed tar file (opened by byte range,
 * never read through) or the files of a directory. Readers of every format work on this, so a
 * format is read the same way whether it arrived as a tar, a directory, compressed or on stdin.
 * Links are followed inside the tree only: a link that leaves it, or loops, is a problem.
 */
import { closeSync, createReadStream, lstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { SegmentedFile, type Segment } from './segmented-file.js';
import { readdir, readlink } from 'node:fs/promises';
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
  /** Where this file's bytes are on disk (one range, or several across volumes), for direct reads. */
  location(file: TreeFile): Segment[];
  close(): Promise<void>;
}

const MAX_LINK_HOPS = 40;

export class TarTree implements FileTree {
  readonly kind = 'tar';
  private readonly byName = new Map<string, TarEntry>();
  private constructor(private readonly file: SegmentedFile, readonly problems: readonly TarIndexProblem[], entries: TarEntry[], private readonly onClose?: () => void) {
    for (const e of entries) if (e.name) this.byName.set(e.name, e); // last one wins, as extraction does
  }

  /** A tar file, or volumes read as one file. */
  static async open(input: string | SegmentedFile, onClose?: () => void): Promise<TarTree> {
    const file = typeof input === 'string' ? SegmentedFile.single(input) : input;
    const index = await indexTarFile(file);
    return new TarTree(file, index.problems, index.entries, onClose);
  }

  get path(): string {
    return this.file.path;
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

  location(file: TreeFile): Segment[] {
    return this.file.segments(this.entryOf(file).dataOffset, file.size);
  }

  openRange(file: TreeFile, start = 0, end = file.size): Readable {
    const e = this.entryOf(file);
    if (end <= start) return emptyStream();
    return this.file.stream(e.dataOffset + start, e.dataOffset + end);
  }

  async head(file: TreeFile, length: number): Promise<Buffer> {
    const e = this.entryOf(file);
    const buf = Buffer.alloc(Math.min(length, e.size));
    const bytesRead = this.file.readSync(buf, 0, buf.length, e.dataOffset);
    return buf.subarray(0, bytesRead);
  }

  async close(): Promise<void> {
    this.file.close();
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
      // Synchronous: thousands of small metadata calls cost less than as many thread-pool trips.
      real = realpathSync(full);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') return { ok: false, reason: 'loop', message: 'links loop' };
      return { ok: false, reason: 'missing', message: 'no such file' };
    }
    const inside = relative(this.realRoot, real);
    if (inside.startsWith('..') || inside === '' && rel !== '') return { ok: false, reason: 'escapes', message: `${rel} points outside the layout` };
    const st = lstatSync(real);
    if (!st.isFile()) return { ok: false, reason: 'not-a-file', message: st.isDirectory() ? 'is a directory, not a file' : 'not a regular file' };
    return { ok: true, file: { name: rel, target: inside.split(sep).join('/'), size: st.size } };
  }

  location(file: TreeFile): Segment[] {
    return [{ path: join(this.realRoot, file.target), start: 0, length: file.size }];
  }

  openRange(file: TreeFile, start = 0, end = file.size): Readable {
    if (end <= start) return emptyStream();
    return createReadStream(join(this.realRoot, file.target), { start, end: end - 1, highWaterMark: 4 << 20 });
  }

  async head(file: TreeFile, length: number): Promise<Buffer> {
    const fd = openSync(join(this.realRoot, file.target), 'r');
    try {
      const buf = Buffer.alloc(Math.min(length, file.size));
      return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
    } finally {
      closeSync(fd);
    }
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



function emptyStream(): Readable {
  return Readable.from([]);
}
