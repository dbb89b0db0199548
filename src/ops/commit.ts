/**
 * `commit`: a new image from a base (or scratch): files added as a layer (directories walked
 * deterministically, tar files copied entry by entry), whiteouts for removed paths, configuration
 * changes, author and message, as docker commit records them. The result is a small OCI layout
 * (the new layer, config and manifest) laid over the base's blobs, handed to the copy engine like
 * any source, so every output format and the store work.
 */
import { closeSync, createReadStream, createWriteStream, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readlinkSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, posix, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CodecPool } from '../io/workers.js';
import { DEFAULT_LEVEL, parallelCompressor } from '../io/parallel-compress.js';
import { extract, pack, type Header } from 'tar-stream';
import { invalid, usage } from '../errors.js';
import { DirTree } from '../io/file-tree.js';
import { CatalogBuilder } from '../formats/catalog-builder.js';
import { readOciLayout } from '../formats/oci-layout.js';
import { OverlayTree } from '../formats/overlay-tree.js';
import { ArchiveSource } from '../formats/source.js';
import { oneImage } from './select.js';
import { decompress, sniffCompression, MAGIC_LENGTH } from '../io/compression.js';
import { spoolDir } from '../io/temp.js';
import { cancelSignal } from '../io/cancel.js';
import type { ImageRecord } from '../model/catalog.js';
import { MediaType } from '../model/media-types.js';
import type { Descriptor, ImageConfig, Platform } from '../model/oci.js';
import { applyChange } from './changes.js';
import { cleanPath } from './export.js';

export interface CommitOptions {
  adds: string[];
  removes: string[];
  changes: string[];
  author?: string;
  message?: string;
  compress: 'gzip' | 'zstd' | 'none';
  /** For compress: 'zstd' (default 3). */
  zstdLevel?: number;
  sourceDateEpoch?: number;
  preserveOwner?: boolean;
  layerPerAdd?: boolean;
}

export interface NewLayer {
  path: string;
  digest: string;
  size: number;
  diffId: string;
  mediaType: string;
}

/** `SRC[:DEST]`: the last colon splits, unless what follows it is not an absolute path. */
export function parseAdd(spec: string): { src: string; dest: string } {
  const i = spec.lastIndexOf(':');
  if (i > 0 && spec.slice(i + 1).startsWith('/')) return { src: spec.slice(0, i), dest: spec.slice(i + 1) };
  return { src: spec, dest: '/' };
}

/** Builds one layer tar from --add sources and --remove whiteouts, into the spool directory. */
export async function buildLayer(adds: { src: string; dest: string }[], removes: string[], opts: CommitOptions): Promise<NewLayer> {
  const clamp = (d: Date) => (opts.sourceDateEpoch !== undefined && d.getTime() > opts.sourceDateEpoch * 1000 ? new Date(opts.sourceDateEpoch * 1000) : d);
  const out = pack();
  const dir = spoolDir();
  const raw = join(dir, `layer-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.tar`);
  const diffHash = createHash('sha256');
  const tap = new Transform({ transform(c, _e, cb) { diffHash.update(c); cb(null, c); } });
  const written = pipeline(out as unknown as Readable, tap, createWriteStream(raw), { signal: cancelSignal });
  written.catch(() => {});
  const put = (header: Partial<Header> & { name: string }, data?: Buffer | Readable) => new Promise<void>((res, rej) => {
    const sink = out.entry(header as Header, (e) => (e ? rej(e) : res()));
    if (Buffer.isBuffer(data)) (sink as unknown as { end(b: Buffer): void }).end(data);
    else if (data) data.pipe(sink as unknown as NodeJS.WritableStream);
    else (sink as unknown as { end(): void }).end();
  });
  for (const { src, dest } of adds) {
    let st;
    try {
      st = lstatSync(src);
    } catch {
      throw usage('enoent', '--add: no such file or directory', src);
    }
    const base = cleanPath(dest) ?? '';
    if (st.isFile() && /\.(tar|tar\.gz|tgz|tar\.zst|tar\.xz)$/.test(src)) {
      // A tar file becomes the layer's content, entry by entry, under DEST.
      const ex = extract();
      const head = Buffer.alloc(MAGIC_LENGTH);
      const fd = openSync(src, 'r');
      readSync(fd, head, 0, MAGIC_LENGTH, 0);
      closeSync(fd);
      decompress(createReadStream(src), sniffCompression(head), src).pipe(ex as unknown as NodeJS.WritableStream);
      for await (const e of ex) {
        const p = cleanPath(e.header.name);
        if (!p) { e.resume(); continue; }
        const name = base ? `${base}/${p}` : p;
        const h = { ...e.header, name: e.header.type === 'directory' ? `${name}/` : name, mtime: clamp(e.header.mtime ?? new Date(0)) } as Header;
        if (!opts.preserveOwner) Object.assign(h, { uid: 0, gid: 0, uname: '', gname: '' });
        if (h.type === 'link') {
          // A hardlink to a path outside the tar's root would link to whatever an extractor finds there.
          const target = cleanPath(h.linkname ?? '');
          if (!target) { e.resume(); continue; }
          h.linkname = base ? `${base}/${target}` : target;
        }
        if (h.type === 'file' && h.size) await put(h, e as unknown as Readable);
        else { e.resume(); await put(h); }
      }
      continue;
    }
    const root = resolve(src);
    const inodes = new Map<string, string>();
    const walk = async (abs: string, rel: string): Promise<void> => {
      const s = lstatSync(abs);
      const name = [base, rel].filter(Boolean).join('/');
      const owner = opts.preserveOwner ? { uid: s.uid, gid: s.gid } : { uid: 0, gid: 0 };
      const common = { mode: s.mode & 0o7777, mtime: clamp(s.mtime), ...owner, uname: '', gname: '' };
      if (s.isDirectory()) {
        if (name) await put({ name: `${name}/`, type: 'directory', ...common });
        for (const child of readdirSync(abs).sort()) await walk(join(abs, child), rel ? `${rel}/${child}` : child);
      } else if (s.isSymbolicLink()) {
        await put({ name, type: 'symlink', linkname: readlinkSync(abs), ...common });
      } else if (s.isFile()) {
        const key = `${s.dev}:${s.ino}`;
        const first = s.nlink > 1 ? inodes.get(key) : undefined;
        if (first) await put({ name, type: 'link', linkname: first, ...common });
        else {
          if (s.nlink > 1) inodes.set(key, name);
          await put({ name, type: 'file', size: s.size, ...common }, createReadStream(abs));
        }
      }
      // sockets, fifos and devices in a build context are not image content: skipped
    };
    if (st.isDirectory()) await walk(root, '');
    else await walk(root, posix.basename(src));
  }
  for (const r of removes) {
    const p = cleanPath(r);
    if (!p) throw usage('bad-remove', '--remove needs a path inside the image', r);
    const d = posix.dirname(p);
    await put({ name: `${d === '.' ? '' : d + '/'}.wh.${posix.basename(p)}`, type: 'file', size: 0, mode: 0o644, mtime: new Date((opts.sourceDateEpoch ?? 0) * 1000) });
  }
  out.finalize();
  await written;
  const diffId = `sha256:${diffHash.digest('hex')}`;
  if (opts.compress === 'none') {
    const { size } = lstatSync(raw);
    return { path: raw, digest: diffId, size, diffId, mediaType: MediaType.ociLayer };
  }
  const codec = opts.compress;
  const gz = `${raw}.${codec === 'gzip' ? 'gz' : 'zst'}`;
  const h = createHash('sha256');
  const size = lstatSync(raw).size;
  const pool = size >= 4 << 20 ? CodecPool.forCompression() : CodecPool.inline();
  try {
    const compressor = parallelCompressor({ codec, level: codec === 'zstd' ? opts.zstdLevel ?? DEFAULT_LEVEL.zstd : DEFAULT_LEVEL.gzip, pool });
    await pipeline(createReadStream(raw), compressor, new Transform({ transform(c, _e, cb) { h.update(c); cb(null, c); } }), createWriteStream(gz), { signal: cancelSignal });
  } finally {
    await pool.close();
  }
  return { path: gz, digest: `sha256:${h.digest('hex')}`, size: lstatSync(gz).size, diffId, mediaType: codec === 'gzip' ? MediaType.ociLayerGzip : MediaType.ociLayerZstd };
}

/** The new config: the base's, with the layer appended, changes applied and history recorded. */
export function newConfig(base: ImageConfig | undefined, layers: NewLayer[], opts: CommitOptions): ImageConfig {
  const created = new Date((opts.sourceDateEpoch ?? Math.floor(Date.now() / 1000)) * 1000).toISOString().replace('.000Z', 'Z');
  const cfg: ImageConfig = base ? JSON.parse(JSON.stringify(base)) : { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
  cfg.config = (cfg.config as Record<string, unknown> | undefined) ?? {};
  for (const c of opts.changes) applyChange(cfg.config as Record<string, unknown>, c);
  cfg.created = created;
  if (opts.author !== undefined) cfg.author = opts.author;
  cfg.rootfs = { type: 'layers', diff_ids: [...(cfg.rootfs?.diff_ids ?? []), ...layers.map((l) => l.diffId)] };
  const history = [...(cfg.history ?? [])];
  const entry = (empty: boolean) => ({ created, created_by: 'imgpack commit', ...(opts.author ? { author: opts.author } : {}), ...(opts.message ? { comment: opts.message } : {}), ...(empty ? { empty_layer: true } : {}) });
  if (layers.length === 0) history.push(entry(true));
  for (const _ of layers) history.push(entry(false));
  cfg.history = history;
  return cfg;
}

/**
 * Writes the new image's own blobs (layers, config, manifest) and an index.json naming it into
 * a directory; the base's layers stay where they are (see OverlayTree).
 */
export function writeCommitLayout(dir: string, baseLayers: Descriptor[], layers: NewLayer[], config: ImageConfig, names: string[]): { manifestDigest: string } {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const configRaw = Buffer.from(JSON.stringify(config));
  const configDigest = `sha256:${createHash('sha256').update(configRaw).digest('hex')}`;
  writeFileSync(join(dir, 'blobs', 'sha256', configDigest.slice(7)), configRaw);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configDigest, size: configRaw.length },
    layers: [...baseLayers, ...layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }))],
  };
  const raw = Buffer.from(JSON.stringify(manifest));
  const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), raw);
  const desc = { mediaType: MediaType.ociManifest, digest, size: raw.length };
  const manifests = names.length ? names.map((n) => ({ ...desc, annotations: { 'io.containerd.image.name': n, 'org.opencontainers.image.ref.name': n } })) : [desc];
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return { manifestDigest: digest };
}

/** The base's layer descriptors as an OCI manifest lists them (docker-archive bases included). */
export function baseLayerDescriptors(image: ImageRecord | undefined): Descriptor[] {
  if (!image) return [];
  return (image.manifests[0]?.layers ?? []).map((l) => {
    const d = l.descriptor;
    // Keep the family consistent: an OCI manifest with OCI layer media types (umoci needs that).
    const mt = d.mediaType.endsWith('.tar.gzip') || d.mediaType.endsWith('tar+gzip') ? MediaType.ociLayerGzip : d.mediaType.endsWith('+zstd') ? MediaType.ociLayerZstd : d.mediaType.startsWith('application/vnd.docker.image.rootfs.diff.tar') ? MediaType.ociLayer : d.mediaType;
    return { mediaType: mt, digest: d.digest, size: d.size };
  });
}


export interface CommitImageOptions extends CommitOptions {
  /** The base image, when the base holds several (as --image). */
  images?: string[];
  /** Of a multi-platform base, this platform (default: this host's). */
  platform?: Platform;
  /** Full references the new image is named by. */
  names: string[];
}

export interface CommittedImage {
  /** The new image as a source (over the base, whose layers it reuses): write it with writePlan. */
  source: ArchiveSource;
  /** The new image's ID. */
  image: string | undefined;
}

/**
 * docker commit / crane append as a library call: a new image from a base (or scratch, with no
 * base) and files: the new layer(s) built from `adds` and `removes`, the config from the base's
 * with `changes` applied, in a layout under $TMPDIR that reads through to the base for its layers.
 */
export async function commitImage(base: ArchiveSource | undefined, opts: CommitImageOptions): Promise<CommittedImage> {
  let image: ImageRecord | undefined;
  if (base) {
    image = oneImage(base.catalog, { images: opts.images, platform: opts.platform }, base.display);
  }
  const adds = opts.adds.map(parseAdd);
  const groups = opts.layerPerAdd ? adds.map((a) => [a]) : adds.length ? [adds] : [];
  const layers: NewLayer[] = [];
  for (let i = 0; i < groups.length; i++) layers.push(await buildLayer(groups[i], i === groups.length - 1 ? opts.removes : [], opts));
  if (groups.length === 0 && opts.removes.length) layers.push(await buildLayer([], opts.removes, opts));
  const config = newConfig(image?.config.json, layers, opts);
  const dir = mkdtempSync(join(spoolDir(), 'commit-'));
  writeCommitLayout(dir, baseLayerDescriptors(image), layers, config, opts.names);
  for (const l of layers) renameSync(l.path, join(dir, 'blobs', 'sha256', l.digest.slice(7)));
  const tree = new OverlayTree(await DirTree.open(dir), base);
  const b = new CatalogBuilder();
  await readOciLayout(tree, b);
  const source = new ArchiveSource('commit', tree, 'none', b.build('oci-layout'));
  return { source, image: source.catalog.images[0]?.id };
}
