/**
 * `export`: an image's flattened filesystem, as `docker export` of a fresh container or
 * `crane export` gives it. Layers are applied in order with the OCI whiteout rules: `.wh.NAME`
 * deletes NAME of lower layers, `.wh..wh..opq` hides what lower layers had in its directory.
 * Two passes (flatten): top-down, decide which layer's entry wins each path (headers only);
 * bottom-up, yield the winners, so that a hardlink's target always comes before the link.
 */
import { createWriteStream, renameSync } from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack, type Header } from 'tar-stream';
import { fromSystemError, ImgpackError, invalid } from '../errors.js';
import { decompress, sniffCompression, MAGIC_LENGTH } from '../io/compression.js';
import { registerTemp, releaseTemp, siblingTempName } from '../io/temp.js';
import { cancelSignal, throwIfCancelled } from '../io/cancel.js';
import type { ArchiveSource } from '../formats/source.js';
import type { ImageRecord } from '../model/catalog.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

export interface ExportReport {
  image: string;
  entries: number;
  bytes: number;
  skipped: { path: string; reason: string }[];
}

/** A layer path made relative and safe; undefined for one that climbs out (never written). */
export function cleanPath(name: string): string | undefined {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return undefined;
    parts.push(part);
  }
  return parts.join('/');
}

async function* layerEntries(source: ArchiveSource, member: string) {
  const r = await source.tree.resolve(member);
  if (!r.ok) throw invalid('missing-blob', `${member}: ${r.message}`, source.display);
  const compression = sniffCompression(await source.tree.head(r.file, MAGIC_LENGTH));
  const ex = extract();
  const content = decompress(source.tree.openRange(r.file), compression, `${source.display}: ${member}`);
  // Some writers (umoci) end layers without the two zero blocks; adding them is harmless after a
  // proper end, and lets the parser finish cleanly after an improper one.
  const input = Readable.from((async function* () {
    let total = 0;
    for await (const chunk of content) {
      total += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    yield Buffer.alloc(((512 - (total % 512)) % 512) + 1024); // the last member's padding, then the end
  })());
  input.on('error', (e) => ex.destroy(e));
  input.pipe(ex as unknown as NodeJS.WritableStream);
  for await (const entry of ex) yield entry;
}

/** One entry of the flattened filesystem: its header (path cleaned) and, for files, its bytes. */
export interface FlatEntry {
  header: Header;
  /** The content stream of a file entry; it must be consumed or resumed before the next entry. */
  content?: Readable;
}

/**
 * The winners of every path, bottom-up: first the parents no layer lists, then each layer's
 * surviving entries. Paths that climb out of the root are reported to `skip` and never yielded.
 */
export async function* flatten(source: ArchiveSource, image: ImageRecord, skip: (path: string, reason: string) => void = () => {}): AsyncGenerator<FlatEntry> {
  const layers = image.manifests[0]?.layers ?? [];
  const members = layers.map((l) => source.memberOf(l.descriptor.digest));

  // Pass 1, top-down: the layer (and the occurrence in it) whose entry each path shows.
  const winner = new Map<string, { layer: number; occurrence: number; type?: Header['type'] }>();
  const deleted = new Set<string>();
  const opaque = new Set<string>();
  const implied = new Set<string>();
  const hidden = (path: string) => {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (deleted.has(prefix)) return true;
      if (i < parts.length && opaque.has(prefix)) return true;
    }
    return false;
  };
  for (let i = layers.length - 1; i >= 0; i--) {
    const seen = new Map<string, number>();
    const types = new Map<string, Header['type']>();
    const deletes: string[] = [];
    const opaques: string[] = [];
    for await (const entry of layerEntries(source, members[i])) {
      const path = cleanPath(entry.header.name);
      entry.resume();
      if (path === undefined) {
        skip(entry.header.name, 'climbs out of the root');
        continue;
      }
      if (path === '') continue;
      const base = posix.basename(path);
      const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      if (base === OPAQUE) opaques.push(dir);
      else if (base.startsWith(WHITEOUT)) deletes.push(dir ? `${dir}/${base.slice(WHITEOUT.length)}` : base.slice(WHITEOUT.length));
      else {
        seen.set(path, (seen.get(path) ?? -1) + 1);
        types.set(path, entry.header.type);
      }
    }
    for (const [path, last] of seen) if (!winner.has(path) && !hidden(path)) winner.set(path, { layer: i, occurrence: last, type: types.get(path) });
    // Parents that a layer holds no entry for still exist (extraction creates them), even when
    // the file that needed them is deleted later: record every parent that is not itself hidden.
    for (const path of [...seen.keys(), ...deletes, ...opaques.map((o) => `${o}/${OPAQUE}`)]) {
      for (let dir = posix.dirname(path); dir !== '.' && dir !== '' && !implied.has(dir); dir = posix.dirname(dir)) {
        if (!hidden(dir)) implied.add(dir);
      }
    }
    for (const d of deletes) deleted.add(d);
    for (const o of opaques) opaque.add(o);
  }

  // A path whose parent is, in the flattened tree, a symlink (or any non-directory) would be
  // written THROUGH that link by whoever extracts the output (`etc -> /` then `etc/passwd`):
  // such entries are skipped, as are hardlinks to a path outside the root or under such a link.
  const underLink = (path: string) => {
    for (let dir = posix.dirname(path); dir !== '.' && dir !== ''; dir = posix.dirname(dir)) {
      const w = winner.get(dir);
      if (w && w.type !== 'directory') return true;
    }
    return false;
  };

  // Pass 2, bottom-up: the winners, so that a hardlink's target comes before the link.
  for (const dir of [...implied].filter((d) => !winner.has(d)).sort()) {
    yield { header: { name: `${dir}/`, type: 'directory', mode: 0o755, mtime: new Date(0) } as Header };
  }
  for (let i = 0; i < layers.length; i++) {
    const occurrences = new Map<string, number>();
    for await (const entry of layerEntries(source, members[i])) {
      const path = cleanPath(entry.header.name);
      const n = path ? (occurrences.get(path) ?? -1) + 1 : 0;
      if (path) occurrences.set(path, n);
      const w = path ? winner.get(path) : undefined;
      if (!path || !w || w.layer !== i || w.occurrence !== n) {
        entry.resume();
        continue;
      }
      const h = entry.header;
      const linkTarget = h.type === 'link' ? cleanPath(h.linkname ?? '') : undefined;
      const problem = underLink(path) ? 'a parent is a symlink or not a directory'
        : h.type === 'link' && !linkTarget ? `hardlink target ${h.linkname} is outside the root`
          : linkTarget && underLink(linkTarget) ? `hardlink target ${h.linkname} is under a symlink` : undefined;
      if (problem) {
        skip(entry.header.name, problem);
        entry.resume();
        continue;
      }
      const isFile = h.type === 'file' || h.type === 'contiguous-file';
      const header = {
        name: h.type === 'directory' ? `${path}/` : path,
        mode: h.mode, uid: h.uid, gid: h.gid, uname: h.uname, gname: h.gname, mtime: h.mtime,
        type: h.type, size: isFile ? h.size : 0,
        devmajor: h.devmajor, devminor: h.devminor,
        ...(h.linkname ? { linkname: h.type === 'link' ? linkTarget : h.linkname } : {}),
        ...(h.pax ? { pax: h.pax } : {}),
      } as Header;
      if (isFile && h.size) yield { header, content: entry as unknown as Readable };
      else {
        entry.resume();
        yield { header };
      }
    }
  }
}

export async function exportImage(source: ArchiveSource, image: ImageRecord, target: string): Promise<ExportReport> {
  const report: ExportReport = { image: image.id, entries: 0, bytes: 0, skipped: [] };
  // -o -: standard output (into tar x, or a pipe), with no temporary name to rename.
  const toStdout = target === '-';
  const temp = toStdout ? undefined : siblingTempName(target);
  const remove = temp ? registerTemp(temp) : () => {};
  const out = pack();
  const written = pipeline(out as unknown as Readable, temp ? createWriteStream(temp, { flags: 'wx' }) : process.stdout, { signal: cancelSignal, end: !toStdout });
  written.catch(() => {});
  try {
    for await (const { header, content } of flatten(source, image, (path, reason) => report.skipped.push({ path, reason }))) {
      throwIfCancelled();
      await new Promise<void>((resolve, reject) => {
        const sink = out.entry(header, (err) => (err ? reject(err) : resolve()));
        if (content) {
          content.pipe(sink as unknown as NodeJS.WritableStream);
          content.on('error', reject);
        } else {
          (sink as unknown as { end(): void }).end();
        }
      });
      report.entries++;
      report.bytes += header.size ?? 0;
    }
    out.finalize();
    await written;
    throwIfCancelled(); // stopped before the rename: nothing appears
    if (temp) {
      renameSync(temp, target);
      releaseTemp(temp);
    }
    return report;
  } catch (e) {
    out.destroy();
    remove();
    throw e instanceof ImgpackError ? e : fromSystemError(e, target);
  }
}
