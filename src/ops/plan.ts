/**
 * A copy plan: which roots (named entry points: an image manifest or an index) of which sources
 * go into the output, under which names. Every command that writes an archive builds a plan
 * (convert: all roots; merge: several sources; split: one root per output; tag/untag/retag:
 * renamed roots) and hands it to the one copy engine. Planning is pure: it reads catalogs only.
 */
import { invalid, usage } from '../errors.js';
import type { ArchiveSource } from '../formats/source.js';
import type { ImageManifest, ImageRecord, IndexRecord } from '../model/catalog.js';
import type { Descriptor, Platform } from '../model/oci.js';
import { formatPlatform, isUnknownPlatform } from '../model/oci.js';
import { familiarName } from '../model/reference.js';
import { describeImage, matchImages, namesAsked } from './select.js';
import type { VolumeInfo } from '../io/output.js';
import { VERSION } from '../version.js';

export type PlanNode =
  | { kind: 'manifest'; image: ImageRecord; manifest: ImageManifest }
  | { kind: 'index'; index: IndexRecord; images: ImageRecord[]; keep?: Set<string> }
  | { kind: 'artifact'; descriptor: Descriptor };

export interface PlanRoot {
  source: ArchiveSource;
  node: PlanNode;
  /** Full references. */
  names: string[];
}

export interface Plan {
  roots: PlanRoot[];
}

export interface SelectOptions {
  images?: string[];
  platform?: Platform;
}

/** Every root of a source, names merged per root; images no root reaches get a root of their own. */
export function rootsOf(source: ArchiveSource): PlanRoot[] {
  const cat = source.catalog;
  const byDigest = new Map<string, PlanRoot>();
  const roots: PlanRoot[] = [];
  const imageByManifest = new Map<string, ImageRecord>();
  for (const img of cat.images) for (const m of img.manifests) if (m.digest) imageByManifest.set(m.digest, img);
  const indexes = new Map(cat.indexes.map((i) => [i.digest, i]));

  for (const r of cat.roots) {
    if (!r.descriptor) continue;
    const d = r.descriptor;
    let root = byDigest.get(d.digest);
    if (!root) {
      const img = imageByManifest.get(d.digest);
      const idx = indexes.get(d.digest);
      let node: PlanNode;
      if (img) node = { kind: 'manifest', image: img, manifest: img.manifests.find((m) => m.digest === d.digest)! };
      else if (idx) node = { kind: 'index', index: idx, images: imagesUnder(idx, indexes, imageByManifest) };
      else if (cat.artifacts.some((a) => a.digest === d.digest)) node = { kind: 'artifact', descriptor: d };
      else continue; // missing or unreadable: verify reports it; nothing to copy
      root = { source, node, names: [] };
      byDigest.set(d.digest, root);
      roots.push(root);
    }
    addNames(root, r.names);
  }
  // docker manifest.json entries: their names join the root that already holds the image.
  for (const r of cat.roots) {
    if (!r.imageId) continue;
    const img = cat.images.find((i) => i.id === r.imageId);
    if (!img) continue;
    const holder = roots.find((x) => (x.node.kind === 'manifest' && x.node.image === img) || (x.node.kind === 'index' && x.node.images.length === 1 && x.node.images[0] === img));
    if (holder) {
      addNames(holder, r.names);
      continue;
    }
    const inIndex = roots.find((x) => x.node.kind === 'index' && x.node.images.includes(img));
    if (inIndex && r.names.every((n) => inIndex.names.includes(n))) continue;
    roots.push({ source, node: { kind: 'manifest', image: img, manifest: img.manifests[0] }, names: [...r.names] });
  }
  return roots;
}

function addNames(root: PlanRoot, names: string[]): void {
  for (const n of names) if (!root.names.includes(n)) root.names.push(n);
}

function imagesUnder(idx: IndexRecord, indexes: Map<string, IndexRecord>, imageByManifest: Map<string, ImageRecord>, depth = 0): ImageRecord[] {
  const out: ImageRecord[] = [];
  for (const c of idx.children) {
    const img = imageByManifest.get(c.descriptor.digest);
    if (img && !out.includes(img)) out.push(img);
    const nested = indexes.get(c.descriptor.digest);
    if (nested && depth < 16) for (const i of imagesUnder(nested, indexes, imageByManifest, depth + 1)) if (!out.includes(i)) out.push(i);
  }
  return out;
}

export function platformMatches(p: Platform | undefined, want: Platform): boolean {
  if (!p) return false;
  return p.os === want.os && p.architecture === want.architecture && (!want.variant || p.variant === want.variant);
}

/**
 * The roots a name points at, carrying that name only (an image set writes the names it asked
 * for), kept to the images of these platforms or of these manifest digests (a lock's).
 */
export function rootsNamed(source: ArchiveSource, name: string, only: { platforms?: Platform[]; manifests?: Set<string> } = {}): PlanRoot[] {
  const keep = (img: ImageRecord) => {
    if (isUnknownPlatform(img.platform)) return true;
    if (only.manifests) return img.manifests.some((m) => !!m.digest && only.manifests!.has(m.digest));
    return !only.platforms?.length || only.platforms.some((p) => platformMatches(img.platform, p));
  };
  return withAttachedArtifacts(source, rootsOf(source)
    .filter((r) => r.node.kind !== 'artifact' && r.names.includes(name))
    .flatMap((r) => restrict({ ...r, names: [name] }, keep)));
}

/** Applies --image and --platform to a source's roots. */
export function selectRoots(source: ArchiveSource, opts: SelectOptions): PlanRoot[] {
  let roots = rootsOf(source);
  if (opts.images?.length) {
    const chosen = new Set<ImageRecord>();
    for (const ref of opts.images) {
      const found = matchImages(source.catalog, ref);
      if (!found.length) throw invalid('no-such-image', `no image in ${source.display} matches ${ref}`, ref);
      for (const i of found) chosen.add(i);
    }
    roots = roots.flatMap((r) => restrict(r, (img) => chosen.has(img))).map((r) => (r.node.kind === 'artifact' ? r : { ...r, names: r.names.filter((n) => namesAsked(n, opts.images!)) }));
  }
  if (opts.platform) {
    const want = opts.platform;
    roots = roots.flatMap((r) => restrict(r, (img) => platformMatches(img.platform, want)));
    if (!roots.some((r) => r.node.kind !== 'artifact')) {
      throw invalid('no-such-platform', `no image in ${source.display} is for platform ${formatPlatform(want)}`, source.display);
    }
  }
  return dropOrphanArtifacts(source, roots);
}

/** Top-level artifacts (signatures, SBOMs) go where the image they refer to goes, and only there. */
function dropOrphanArtifacts(source: ArchiveSource, roots: PlanRoot[]): PlanRoot[] {
  const kept = new Set<string>();
  for (const r of roots) {
    const n = r.node;
    if (n.kind === 'manifest') n.image.manifests.forEach((m) => m.digest && kept.add(m.digest));
    if (n.kind === 'index') {
      kept.add(n.index.digest);
      n.images.forEach((i) => i.manifests.forEach((m) => m.digest && (!n.keep || n.keep.has(m.digest)) && kept.add(m.digest)));
    }
  }
  // An artifact kept makes what refers to it kept too (a signature of an attestation).
  const refersTo = (r: PlanRoot) => (r.node.kind === 'artifact' ? source.catalog.artifacts.find((x) => x.digest === (r.node as { descriptor: Descriptor }).descriptor.digest)?.refersTo : undefined);
  const keptArtifacts = new Set<PlanRoot>();
  for (let grew = true; grew;) {
    grew = false;
    for (const r of roots) {
      if (r.node.kind !== 'artifact' || keptArtifacts.has(r)) continue;
      const to = refersTo(r);
      if (to && !kept.has(to)) continue;
      keptArtifacts.add(r);
      kept.add(r.node.descriptor.digest);
      grew = true;
    }
  }
  return roots.filter((r) => r.node.kind !== 'artifact' || keptArtifacts.has(r));
}

/** The artifact roots of a source that belong to the given roots (their signatures, SBOMs...). */
export function withAttachedArtifacts(source: ArchiveSource, roots: PlanRoot[]): PlanRoot[] {
  const artifacts = rootsOf(source).filter((r) => r.node.kind === 'artifact' && !roots.some((x) => x.node.kind === 'artifact' && x.node.descriptor.digest === (r.node as { descriptor: Descriptor }).descriptor.digest));
  return dropOrphanArtifacts(source, [...roots, ...artifacts]);
}

/** Keeps a root whole, filters an index's children, or drops the root. */
function restrict(root: PlanRoot, keepImage: (img: ImageRecord) => boolean): PlanRoot[] {
  const n = root.node;
  if (n.kind === 'artifact') return [root];
  if (n.kind === 'manifest') return keepImage(n.image) ? [root] : [];
  const kept = n.images.filter(keepImage);
  if (kept.length === 0) return [];
  if (kept.length === n.images.length && !n.keep) return [root];
  const keepDigests = new Set<string>();
  for (const img of kept) for (const m of img.manifests) if (m.digest) keepDigests.add(m.digest);
  return [{ ...root, node: { ...n, images: kept, keep: keepDigests } }];
}

/**
 * The image each name points at where an output holds one image per name (docker-archive, the
 * manifest.json of a hybrid): the one for --platform, else linux/amd64, else the first (CLI.md).
 */
export function dockerImageOf(root: PlanRoot, platform?: Platform): ImageRecord | undefined {
  const n = root.node;
  if (n.kind === 'manifest') return n.image;
  if (n.kind === 'artifact') return undefined;
  const candidates = n.images.filter((i) => !isUnknownPlatform(i.platform));
  return (platform && candidates.find((i) => platformMatches(i.platform, platform)))
    ?? candidates.find((i) => platformMatches(i.platform, { os: 'linux', architecture: 'amd64' }))
    ?? candidates[0];
}

/** The same name on two roots that hold different content is a conflict, unless --prefer. */
export function mergeRoots(groups: PlanRoot[][], prefer?: 'first' | 'last'): PlanRoot[] {
  const out: PlanRoot[] = [];
  const owner = new Map<string, PlanRoot>();
  const named = new Set<PlanRoot>(); // roots that were offered names
  const ordered = prefer === 'last' ? [...groups].reverse() : groups;
  for (const group of ordered) {
    for (const root of group) {
      const same = out.find((r) => rootKey(r) === rootKey(root));
      const target = same ?? { ...root, names: [] as string[] };
      if (!same) out.push(target);
      for (const name of root.names) {
        const holder = owner.get(name);
        if (holder && holder !== target && rootKey(holder) !== rootKey(target)) {
          if (!prefer) {
            throw invalid('name-conflict', `${familiarName(name)} names different images in ${holder.source.display} (${describeRoot(holder)}) and ${root.source.display} (${describeRoot(root)}); use --prefer first|last`, name);
          }
          continue; // the preferred source already owns it
        }
        owner.set(name, target);
        if (!target.names.includes(name)) target.names.push(name);
      }
      if (root.names.length) named.add(target);
    }
  }
  // An image that lost every name to the preferred source goes, unless a referrer (its signature,
  // its SBOM) still holds it: it was named, and nothing asked for it unnamed (issue 13 item 11).
  const held = new Set(out.filter((r) => r.node.kind === 'artifact').flatMap((r) => {
    const digest = (r.node as { descriptor: Descriptor }).descriptor.digest;
    const refersTo = r.source.catalog.artifacts.find((a) => a.digest === digest)?.refersTo;
    return refersTo ? [refersTo] : [];
  }));
  const kept = out.filter((r) => r.names.length > 0 || !named.has(r) || manifestDigestsOf(r).some((d) => held.has(d)));
  return prefer === 'last' ? kept.reverse() : kept;
}

/** The manifest digests a root holds: its manifest, or an index and its children. */
function manifestDigestsOf(r: PlanRoot): string[] {
  const n = r.node;
  if (n.kind === 'manifest') return n.image.manifests.flatMap((m) => (m.digest ? [m.digest] : []));
  if (n.kind === 'index') return [n.index.digest, ...n.images.flatMap((i) => i.manifests.flatMap((m) => (m.digest ? [m.digest] : [])))];
  return [n.descriptor.digest];
}

/**
 * What makes two roots the same: the image ID for an image (a docker-archive entry and the OCI
 * manifest of the same config are one image, whatever the layers' compression), the digest
 * for an index or an artifact.
 */
export function rootKey(r: PlanRoot): string {
  const n = r.node;
  if (n.kind === 'manifest') return n.image.id;
  if (n.kind === 'index') return n.index.digest + (n.keep ? `/${[...n.keep].sort().join(',')}` : '');
  return n.descriptor.digest;
}

export function describeRoot(r: PlanRoot): string {
  const n = r.node;
  if (n.kind === 'manifest') return `image ${describeImage({ ...n.image, repoTags: [] })}`;
  if (n.kind === 'index') return `index ${n.index.digest.slice(7, 19)}`;
  return `artifact ${n.descriptor.digest.slice(7, 19)}`;
}

/** Every image a plan writes. */
export function planImages(plan: Plan): ImageRecord[] {
  const out: ImageRecord[] = [];
  for (const r of plan.roots) {
    const imgs = r.node.kind === 'manifest' ? [r.node.image] : r.node.kind === 'index' ? r.node.images : [];
    for (const i of imgs) if (!out.includes(i)) out.push(i);
  }
  return out;
}

export function assertNoDuplicateNames(plan: Plan): void {
  const seen = new Map<string, PlanRoot>();
  for (const r of plan.roots) {
    for (const n of r.names) {
      const prev = seen.get(n);
      if (prev && rootKey(prev) !== rootKey(r)) throw usage('name-conflict', `${familiarName(n)} would name two different images`, n);
      seen.set(n, r);
    }
  }
}

/** What a transfer manifest says of the images inside. */
export function transferInfo(out: { format: string; compress: string; lock?: VolumeInfo['lock'] }, plan?: Plan): VolumeInfo {
  const images = plan ? planImages(plan).map((img) => ({
    id: img.id,
    names: [...new Set(plan.roots.filter((r) => (r.node.kind === 'manifest' && r.node.image === img) || (r.node.kind === 'index' && r.node.images.includes(img))).flatMap((r) => r.names))],
    platform: img.platform ? [img.platform.os, img.platform.architecture, img.platform.variant].filter(Boolean).join('/') : undefined,
  })) : [];
  return { imgpackVersion: VERSION, created: new Date().toISOString(), format: out.format, compression: out.compress, images, ...(out.lock ? { lock: out.lock } : {}) };
}

/** An upper bound of what the plan writes: every distinct blob once. */
export function estimateSize(plan: Plan): number {
  const seen = new Map<string, number>();
  for (const r of plan.roots) {
    const add = (d: string, n: number) => seen.set(d, n);
    const n = r.node;
    const images = n.kind === 'manifest' ? [n.image] : n.kind === 'index' ? n.images : [];
    for (const img of images) {
      add(img.id, img.config.raw.length);
      for (const m of img.manifests) for (const l of m.layers) add(l.descriptor.digest, l.descriptor.size);
    }
  }
  return [...seen.values()].reduce((a, b) => a + b, 0) + 1024 * 1024;
}
