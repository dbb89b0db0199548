/**
 * Builds tiny, deterministic images and archives in memory for tests and samples, in every
 * layout real tools write. Archives are first a list of entries, so a test can break one
 * (drop a blob, flip a byte, add a link) before the tar is made.
 */
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { MemorySink, TarWriter } from '../io/tar-writer.js';
import { MediaType } from '../model/media-types.js';
import { formatFamiliar, parseReference } from '../model/reference.js';

export type Entry =
  | { name: string; data: Buffer; mode?: number }
  | { name: string; symlink: string }
  | { name: string; directory: true };

export interface LayerSpec {
  files: Record<string, string>;
  /** Modes of some of the files (default 0644). */
  modes?: Record<string, number>;
  /** Symbolic links: name -> target. */
  symlinks?: Record<string, string>;
  compression?: 'none' | 'gzip';
}

export interface ImageSpec {
  names?: string[];
  layers: LayerSpec[];
  os?: string;
  architecture?: string;
  variant?: string;
  created?: string;
  cmd?: string[];
}

export interface BuiltBlob {
  digest: string;
  data: Buffer;
  mediaType: string;
}

export interface BuiltImage {
  spec: ImageSpec;
  config: BuiltBlob;
  layers: (BuiltBlob & { diffId: string; uncompressed: Buffer })[];
  manifest: BuiltBlob;
}

export function sha256(data: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export async function tarBuffer(entries: Entry[]): Promise<Buffer> {
  const sink = new MemorySink();
  const w = new TarWriter(sink);
  for (const e of entries) {
    if ('data' in e) await w.addBuffer(e.name, e.data, { mode: e.mode });
    else if ('symlink' in e) await w.addSymlink(e.name, e.symlink);
    else await w.addDirectory(e.name);
  }
  await w.finish();
  return sink.toBuffer();
}

export async function buildLayer(files: Record<string, string>, modes: Record<string, number> = {}, symlinks: Record<string, string> = {}): Promise<Buffer> {
  const entries: Entry[] = [
    ...Object.keys(files).map((name) => ({ name, data: Buffer.from(files[name]), ...(modes[name] !== undefined ? { mode: modes[name] } : {}) })),
    ...Object.entries(symlinks).map(([name, symlink]) => ({ name, symlink })),
  ];
  return tarBuffer(entries.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)));
}

export async function buildImage(spec: ImageSpec, family: 'oci' | 'docker' = 'oci'): Promise<BuiltImage> {
  const layers = [];
  for (const l of spec.layers) {
    const uncompressed = await buildLayer(l.files, l.modes, l.symlinks);
    const gz = l.compression === 'gzip';
    // mtime 0 and no name: gzip output is deterministic.
    const data = gz ? gzipSync(uncompressed) : uncompressed;
    const mediaType = family === 'docker'
      ? (gz ? MediaType.dockerLayerGzip : MediaType.dockerLayer)
      : (gz ? MediaType.ociLayerGzip : MediaType.ociLayer);
    layers.push({ digest: sha256(data), data, mediaType, diffId: sha256(uncompressed), uncompressed });
  }
  const configJson = {
    architecture: spec.architecture ?? 'amd64',
    os: spec.os ?? 'linux',
    ...(spec.variant ? { variant: spec.variant } : {}),
    created: spec.created ?? '2024-01-01T00:00:00Z',
    config: { Cmd: spec.cmd ?? ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: spec.created ?? '2024-01-01T00:00:00Z', created_by: `layer ${i}` })),
  };
  const configData = Buffer.from(JSON.stringify(configJson));
  const config = { digest: sha256(configData), data: configData, mediaType: family === 'docker' ? MediaType.dockerConfig : MediaType.ociConfig };
  const manifestJson = {
    schemaVersion: 2,
    mediaType: family === 'docker' ? MediaType.dockerManifest : MediaType.ociManifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: configData.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.data.length })),
  };
  const manifestData = Buffer.from(JSON.stringify(manifestJson));
  return { spec, config, layers, manifest: { digest: sha256(manifestData), data: manifestData, mediaType: manifestJson.mediaType } };
}

const hex = (digest: string) => digest.slice(digest.indexOf(':') + 1);
const familiar = (name: string) => formatFamiliar(parseReference(name));

/** docker <= 24: `<v1id>/layer.tar` dirs (repeats as symlinks), `<id>.json`, repositories, manifest.json. */
export function dockerArchiveEntries(images: BuiltImage[]): Entry[] {
  const entries: Entry[] = [];
  const layerDirs = new Map<string, string>();
  const manifest = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const img of images) {
    const layerPaths: string[] = [];
    let parent = '';
    for (const l of img.layers) {
      const v1 = hex(sha256(`${parent} ${l.diffId}`));
      parent = v1;
      const path = `${v1}/layer.tar`;
      if (!layerDirs.has(l.diffId)) {
        layerDirs.set(l.diffId, path);
        entries.push({ name: `${v1}/`, directory: true }, { name: `${v1}/VERSION`, data: Buffer.from('1.0') }, { name: `${v1}/json`, data: Buffer.from(JSON.stringify({ id: v1 })) }, { name: path, data: l.uncompressed });
      }
      layerPaths.push(layerDirs.get(l.diffId)!);
    }
    entries.push({ name: `${hex(img.config.digest)}.json`, data: img.config.data });
    const tags = (img.spec.names ?? []).map(familiar);
    manifest.push({ Config: `${hex(img.config.digest)}.json`, RepoTags: tags.length ? tags : null, Layers: layerPaths });
    for (const t of tags) {
      const colon = t.lastIndexOf(':');
      (repositories[t.slice(0, colon)] ??= {})[t.slice(colon + 1)] = parent;
    }
  }
  entries.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) });
  entries.push({ name: 'repositories', data: Buffer.from(JSON.stringify(repositories)) });
  return entries;
}

/** OCI layout entries (blobs, oci-layout, index.json), plus manifest.json for a hybrid. */
export function ociEntries(images: BuiltImage[], opts: { hybrid?: boolean; refNameStyle?: 'full' | 'tag' | 'none'; extraBlobs?: BuiltBlob[]; index?: unknown } = {}): Entry[] {
  const blobs = new Map<string, Buffer>();
  for (const img of images) {
    for (const b of [...img.layers, img.config, img.manifest]) blobs.set(b.digest, b.data);
  }
  for (const b of opts.extraBlobs ?? []) blobs.set(b.digest, b.data);
  const entries: Entry[] = [...blobs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([d, data]) => ({ name: `blobs/sha256/${hex(d)}`, data }));
  const descriptors = images.flatMap((img) => {
    const base = { mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.data.length };
    const names = img.spec.names ?? [];
    if (names.length === 0 || opts.refNameStyle === 'none') return [base];
    return names.map((n) => {
      const full = `${parseReference(n).domain}/${parseReference(n).path}:${parseReference(n).tag}`;
      return { ...base, annotations: opts.refNameStyle === 'tag' ? { 'io.containerd.image.name': full, 'org.opencontainers.image.ref.name': parseReference(n).tag! } : { 'io.containerd.image.name': full, 'org.opencontainers.image.ref.name': full } };
    });
  });
  const index = opts.index ?? { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: descriptors };
  entries.push({ name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') });
  entries.push({ name: 'index.json', data: Buffer.from(JSON.stringify(index)) });
  if (opts.hybrid) {
    const manifest = images.map((img) => ({
      Config: `blobs/sha256/${hex(img.config.digest)}`,
      RepoTags: (img.spec.names ?? []).map(familiar),
      Layers: img.layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
    }));
    entries.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) });
  }
  return entries;
}

/** Writes entries as a directory tree (an OCI layout directory). */
export async function writeEntriesToDir(entries: Entry[], dir: string): Promise<void> {
  const { mkdir, writeFile, symlink } = await import('node:fs/promises');
  const { dirname, join } = await import('node:path');
  for (const e of entries) {
    const p = join(dir, e.name);
    if ('directory' in e) {
      await mkdir(p, { recursive: true });
      continue;
    }
    await mkdir(dirname(p), { recursive: true });
    if ('symlink' in e) await symlink(e.symlink, p);
    else await writeFile(p, e.data);
  }
}
