/**
 * What the store commands do, as plain data: load (verify, then copy in), the image list,
 * removing names and images, pruning unreferenced blobs, renaming in place.
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ImgpackError, invalid } from '../errors.js';
import { openSource, type ArchiveSource } from '../formats/source.js';
import { Store } from '../formats/store/store.js';
import { StoreSink } from '../formats/store/store-sink.js';
import { blobPath } from '../model/digest.js';
import { Annotation, type Descriptor } from '../model/oci.js';
import { familiarName, normalizeName, parseReference } from '../model/reference.js';
import { copy, type CopyReport } from './copy.js';
import { rootsOf, type PlanRoot } from './plan.js';
import { matchImages } from './select.js';
import { verifySource } from './verify.js';

export const SIZE_ANNOTATION = 'dev.imgpack.uncompressed-size';

export interface LoadResult {
  source: string;
  names: string[];
  /** Signatures, attestations, SBOMs and other referrers that came with the images. */
  attached: number;
  unnamed: string[];
  report: CopyReport;
  /** What this input really added to the store: blobs (every content-addressed one) and bytes. */
  added: { blobs: number; bytes: number };
  /** What the store already held (or an earlier input of this load wrote): not written again. */
  present: { blobs: number; bytes: number };
}

export interface LoadProgress {
  phase: 'verify' | 'load';
  source: string;
  bytes: number;
  total?: number;
  current: string;
}

/**
 * Adds the inputs' images to the store, all or nothing. Each input is checked first, except the
 * blobs the copy will stream, which it checks itself as it writes them under temporary names:
 * every byte is hashed once, and nothing is renamed into place or named until all have passed.
 */
export async function loadIntoStore(sources: ArchiveSource[], onProgress?: (e: LoadProgress) => void): Promise<LoadResult[]> {
  const store = Store.open();
  const sizes: Record<string, number> = {};
  const copied = new Set<string>(); // digests an earlier input of this load will write
  // A delta completes only what the store (or another input of this load) already holds.
  for (const s of sources) {
    const missing = (s.catalog.delta?.omitted ?? []).map((o) => o.digest).filter((d) => !store.hasBlob(d) && !sources.some((o) => o !== s && o.tree.exists(o.memberOf(d))));
    if (missing.length) throw deltaIncomplete(s, missing);
  }
  for (const s of sources) {
    const willCopy = (digest: string) => !store.hasBlob(digest) && !copied.has(digest);
    const v = await verifySource(s, { copyChecksDigest: willCopy, onProgress: (e) => onProgress?.({ phase: 'verify', source: s.display, bytes: e.bytes, total: e.total, current: e.member }) });
    if (!v.ok) throw corruptInput(s, v.problems.length, `${v.problems[0].message} (${v.problems[0].subject})`);
    Object.assign(sizes, v.contentSizes);
    for (const ref of s.catalog.blobs) for (const d of [ref.digest, ref.diffId]) if (d) copied.add(d);
  }
  const sink = new StoreSink(store, { annotate: (d) => sizeAnnotation(store, d, sizes), holdCommit: true });
  const results: LoadResult[] = [];
  try {
    for (const s of sources) {
      const roots = rootsOf(s);
      const before = { written: sink.written, bytesWritten: sink.bytesWritten, skipped: sink.skipped, bytesSkipped: sink.bytesSkipped };
      const report = await copy({ roots }, sink, { layers: 'keep', onProgress: (e) => onProgress?.({ phase: 'load', source: s.display, bytes: e.bytes, current: e.current }) }).catch((e) => {
        throw e instanceof ImgpackError && e.exitCode === 1 ? corruptInput(s, 1, e.line) : e;
      });
      results.push({
        source: s.display,
        names: roots.filter((r) => r.node.kind !== 'artifact').flatMap((r) => r.names),
        attached: roots.filter((r) => r.node.kind === 'artifact').length,
        unnamed: roots.filter((r) => r.names.length === 0 && r.node.kind === 'manifest').map((r) => (r.node.kind === 'manifest' ? r.node.image.id : '')),
        report,
        added: { blobs: sink.written - before.written, bytes: sink.bytesWritten - before.bytesWritten },
        present: { blobs: sink.skipped - before.skipped, bytes: sink.bytesSkipped - before.bytesSkipped },
      });
    }
    await sink.complete();
  } catch (e) {
    await sink.abort();
    throw e;
  }
  return results;
}

function deltaIncomplete(s: ArchiveSource, missing: string[]): ImgpackError {
  const shown = missing.slice(0, 8).join(', ') + (missing.length > 8 ? `, and ${missing.length - 8} more` : '');
  return invalid('delta-incomplete', `${s.display} is a delta (cut against inventory ${s.catalog.delta!.inventory}) and the store lacks ${missing.length} blob${missing.length === 1 ? '' : 's'} it left out: ${shown}; nothing was loaded`, s.display);
}

function corruptInput(s: ArchiveSource, count: number, first: string): ImgpackError {
  return invalid('corrupt-input', `${s.display} has ${count} problem${count === 1 ? '' : 's'}; nothing was loaded. First: ${first}`, s.display);
}

/**
 * The uncompressed size of an image, recorded on its index.json entry for `images`: a number for
 * an image manifest, a JSON map manifest digest -> size for an index.
 */
function sizeAnnotation(store: Store, d: Descriptor, sizes: Record<string, number>): Record<string, string> | undefined {
  const read = (digest: string) => JSON.parse(readFileSync(join(store.root, blobPath(digest)), 'utf8'));
  const imageSize = (digest: string): number | undefined => {
    const manifest = read(digest);
    if (!manifest.config) return undefined;
    const diffIds: string[] = read(manifest.config.digest)?.rootfs?.diff_ids ?? [];
    return diffIds.every((id) => sizes[id] !== undefined) ? diffIds.reduce((n, id) => n + sizes[id], 0) : undefined;
  };
  try {
    const top = read(d.digest);
    if (!Array.isArray(top.manifests)) {
      const n = imageSize(d.digest);
      return n === undefined ? undefined : { [SIZE_ANNOTATION]: String(n) };
    }
    const map: Record<string, number> = {};
    for (const child of top.manifests as Descriptor[]) {
      if (!store.hasBlob(child.digest)) continue;
      const n = imageSize(child.digest);
      if (n !== undefined) map[child.digest] = n;
    }
    return Object.keys(map).length ? { [SIZE_ANNOTATION]: JSON.stringify(map) } : undefined;
  } catch {
    return undefined;
  }
}

function sizeFromAnnotation(value: string | undefined, manifestDigest: string | null): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value);
  try {
    const map = JSON.parse(value) as Record<string, number>;
    return manifestDigest && typeof map[manifestDigest] === 'number' ? map[manifestDigest] : null;
  } catch {
    return null;
  }
}

export interface ImageRow {
  repository: string;
  tag: string;
  name: string | null;
  id: string;
  digest: string | null;
  created: string | null;
  /** Uncompressed bytes, as docker shows SIZE (null when unknown). */
  size: number | null;
  stored: number;
  shared: number;
  unique: number;
  platform: string;
}

export async function listImages(filter?: string): Promise<ImageRow[]> {
  const source = await openSource('store:');
  try {
    const cat = source.catalog;
    const users = new Map<string, Set<string>>();
    for (const img of cat.images) for (const l of img.manifests[0]?.layers ?? []) (users.get(l.descriptor.digest) ?? users.set(l.descriptor.digest, new Set()).get(l.descriptor.digest)!).add(img.id);
    const rows: ImageRow[] = [];
    // Sizes recorded at load, on the root entry that reaches the image (the manifest or its index).
    const sizeOf = new Map<string, string>();
    for (const r of cat.roots) {
      const v = r.descriptor?.annotations?.[SIZE_ANNOTATION];
      if (!v || !r.descriptor) continue;
      sizeOf.set(r.descriptor.digest, v);
      const idx = cat.indexes.find((i) => i.digest === r.descriptor!.digest);
      for (const c of idx?.children ?? []) sizeOf.set(c.descriptor.digest, v);
    }
    for (const img of cat.images) {
      const layers = img.manifests[0]?.layers ?? [];
      const stored = img.config.descriptor.size + layers.reduce((n, l) => n + l.descriptor.size, 0);
      const shared = layers.filter((l) => (users.get(l.descriptor.digest)?.size ?? 0) > 1).reduce((n, l) => n + l.descriptor.size, 0);
      const mdigest = img.manifests[0]?.digest ?? null;
      const annotated = mdigest ? sizeOf.get(mdigest) : undefined;
      const base = {
        id: img.id, digest: mdigest, created: typeof img.config.json.created === 'string' ? img.config.json.created : null,
        size: sizeFromAnnotation(annotated, mdigest), stored, shared, unique: stored - shared,
        platform: img.platform ? [img.platform.os, img.platform.architecture, img.platform.variant].filter(Boolean).join('/') : 'unknown',
      };
      const names = img.repoTags.length ? img.repoTags : [null];
      for (const name of names) {
        const ref = name ? parseReference(name) : undefined;
        const familiar = name ? familiarName(name) : null;
        rows.push({ ...base, name, repository: familiar ? familiar.slice(0, familiar.lastIndexOf(':')) : '<none>', tag: ref?.tag ?? '<none>' });
      }
    }
    if (!filter) return rows;
    const full = normalizeName(filter.includes(':') ? filter : `${filter}:latest`);
    const repo = normalizeName(filter)?.replace(/:[^:/]*$/, '');
    return rows.filter((r) => r.name && (r.name === full || (!filter.includes(':') && r.name.replace(/:[^:/]*$/, '') === repo)));
  } finally {
    await source.close();
  }
}

/** Descriptors of roots, one per name: what index.json lists. */
export function rootDescriptors(roots: PlanRoot[]): Descriptor[] {
  const out: Descriptor[] = [];
  for (const r of roots) {
    const n = r.node;
    let d: Descriptor;
    if (n.kind === 'manifest') {
      if (!n.manifest.digest || !n.manifest.raw) continue;
      d = { mediaType: n.manifest.json?.mediaType ?? n.manifest.mediaType, digest: n.manifest.digest, size: n.manifest.raw.length };
    } else if (n.kind === 'index') {
      d = { mediaType: n.index.json.mediaType ?? n.index.mediaType, digest: n.index.digest, size: n.index.raw.length };
    } else {
      d = { mediaType: n.descriptor.mediaType, digest: n.descriptor.digest, size: n.descriptor.size };
    }
    if (r.names.length === 0) out.push(d);
    for (const name of r.names) out.push({ ...d, annotations: { [Annotation.containerdName]: name, [Annotation.refName]: name } });
  }
  return out;
}

/** Renames in the store are an index.json update: no blob moves. Sizes recorded earlier are kept. */
export async function renameInStore(plan: (source: ArchiveSource) => PlanRoot[]): Promise<Descriptor[]> {
  const source = await openSource('store:');
  try {
    const roots = plan(source);
    const next = rootDescriptors(roots);
    const store = Store.openExisting();
    const sizes = new Map<string, string>();
    for (const d of store.readIndex().manifests) if (d.annotations?.[SIZE_ANNOTATION]) sizes.set(d.digest, d.annotations[SIZE_ANNOTATION]);
    const withSizes = next.map((d) => (sizes.has(d.digest) ? { ...d, annotations: { ...(d.annotations ?? {}), [SIZE_ANNOTATION]: sizes.get(d.digest)! } } : d));
    await store.updateIndex(() => withSizes);
    return withSizes;
  } finally {
    await source.close();
  }
}

export interface RmiResult {
  untagged: string[];
  deleted: string[];
}

/** `rmi REF...`: a name removes that name; an ID or digest removes the image with all its names. */
export async function removeImages(refs: string[]): Promise<RmiResult> {
  const result: RmiResult = { untagged: [], deleted: [] };
  await renameInStore((source) => {
    let roots = rootsOf(source);
    for (const ref of refs) {
      const full = normalizeName(ref);
      const named = full && roots.some((r) => r.names.includes(full));
      if (named) {
        for (const r of roots) if (r.names.includes(full!)) r.names = r.names.filter((n) => n !== full);
        result.untagged.push(full!);
        continue;
      }
      const images = matchImages(source.catalog, ref);
      if (images.length === 0) throw invalid('no-such-image', `no image in the store matches ${ref}`, ref);
      for (const r of roots) {
        const imgs = r.node.kind === 'manifest' ? [r.node.image] : r.node.kind === 'index' ? r.node.images : [];
        if (imgs.some((i) => images.includes(i))) {
          result.untagged.push(...r.names);
          r.names = [];
          (r as PlanRoot & { drop?: boolean }).drop = true;
        }
      }
    }
    // Images left without a name go, as with docker rmi.
    const before = roots;
    roots = roots.filter((r) => r.names.length > 0 && !(r as PlanRoot & { drop?: boolean }).drop || r.node.kind === 'artifact');
    for (const r of before) {
      if (roots.includes(r)) continue;
      const id = r.node.kind === 'manifest' ? r.node.image.id : r.node.kind === 'index' ? r.node.index.digest : undefined;
      if (id && !result.deleted.includes(id)) result.deleted.push(id);
    }
    return roots;
  });
  return result;
}

export interface PruneResult {
  blobs: number;
  bytes: number;
}

/**
 * Removes blobs nothing references: not index.json (closed over manifests, configs, layers,
 * children, artifacts), not a live load's pending list. Temporaries of dead processes go too.
 */
export async function pruneStore(): Promise<PruneResult> {
  const store = Store.openExisting();
  return store.locked(async () => {
    const source = await openSource('store:');
    const referenced = new Set<string>();
    try {
      for (const b of source.catalog.blobs) if (b.digest) referenced.add(b.digest);
      for (const r of source.catalog.roots) if (r.descriptor) referenced.add(r.descriptor.digest);
      for (const i of source.catalog.indexes) referenced.add(i.digest);
      for (const a of source.catalog.artifacts) {
        referenced.add(a.digest);
        referenced.add(a.json.config.digest);
        for (const l of a.json.layers ?? []) referenced.add(l.digest);
      }
      for (const img of source.catalog.images) {
        referenced.add(img.id);
        for (const m of img.manifests) {
          if (m.digest) referenced.add(m.digest);
          for (const l of m.layers) referenced.add(l.descriptor.digest);
        }
      }
    } finally {
      await source.close();
    }
    // A load marks a blob pending before it looks whether the store has it. So: move candidates
    // aside, then read the pending lists; a blob a load marked meanwhile goes back. The index
    // cannot change under us (we hold the lock), so nothing can reference a blob once it is gone.
    const aside: { path: string; trash: string; digest?: string; size: number }[] = [];
    for (const d of store.pendingDigests()) referenced.add(d);
    for (const f of store.listBlobFiles()) {
      if (f.digest ? referenced.has(f.digest) : tempOfLiveProcess(f.path)) continue;
      const trash = `${f.path}.prune-${process.pid}`;
      try {
        renameSync(f.path, trash);
        aside.push({ path: f.path, trash, digest: f.digest, size: f.size });
      } catch {
        // gone already (another prune, or a load's temporary renamed into place)
      }
    }
    const pendingNow = store.pendingDigests();
    let blobs = 0;
    let bytes = 0;
    for (const a of aside) {
      if (a.digest && pendingNow.has(a.digest)) {
        if (existsSync(a.path)) rmSync(a.trash, { force: true });
        else renameSync(a.trash, a.path);
        continue;
      }
      rmSync(a.trash, { force: true });
      blobs++;
      bytes += a.size;
    }
    return { blobs, bytes };
  });
}

function tempOfLiveProcess(path: string): boolean {
  const m = /\.tmp-(\d+)-/.exec(path);
  if (!m) return false;
  try {
    process.kill(Number(m[1]), 0);
    return true;
  } catch {
    return false;
  }
}

