/**
 * The lock of an image set: every reference a run resolved, with the manifest digest it had, the
 * platforms taken (each image manifest's digest) and the bytes a pull fetches. A run given the
 * lock (`--lock FILE`) fetches those digests, not what the tags point at now, so that the pull
 * of today and the pull of next week carry the same bytes; `verify BUNDLE --lock FILE` on the far
 * side says whether the bundle holds exactly what the lock names. A lock is deterministic (no
 * time in it): the same resolution writes the same bytes, and its sha256 names it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fromSystemError, invalid } from '../errors.js';
import { writeFileAtomically } from '../io/atomic.js';
import { findVolumeSet, manifestPathOf, type TransferManifest } from '../io/volumes.js';
import { digestProblem } from '../model/digest.js';
import { formatPlatform, isUnknownPlatform } from '../model/oci.js';
import { parseReference } from '../model/reference.js';
import type { PlanRoot } from './plan.js';

export interface LockImage {
  /** The full reference: with its tag (`docker.io/library/nginx:1.25.3`), or `repo@digest`. */
  reference: string;
  /** What the reference pointed at: an index or an image manifest. */
  digest: string;
  mediaType: string;
  /** The image manifests taken, one per platform. */
  platforms: { platform: string; digest: string; size: number }[];
  /** Bytes a pull fetches: manifests, configs, layers, each once. */
  size: number;
  /** The set entries that named it (see entryKey): a run with the lock looks them up here. */
  entries: string[];
}

export interface SetLock {
  kind: 'imgpack-lock';
  version: 1;
  /** The set files, with their sha256 when the lock was written (for the reader: not checked). */
  sets: { path: string; sha256: string }[];
  images: LockImage[];
}

const MAX_LOCK_BYTES = 64 * 1024 * 1024;

export function sha256OfFile(path: string): string {
  try {
    return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
  } catch (e) {
    throw fromSystemError(e, path);
  }
}

/** Reads and checks a lock: it may have crossed an air gap, so nothing in it is taken on trust. */
export function readLock(path: string): { lock: SetLock; sha256: string } {
  let raw: Buffer;
  try {
    if (statSync(path).size > MAX_LOCK_BYTES) throw invalid('limit-lock', `the lock is larger than ${MAX_LOCK_BYTES} bytes: refused`, path);
    raw = readFileSync(path);
  } catch (e) {
    throw fromSystemError(e, path);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalid('bad-lock', 'the lock is not JSON', path);
  }
  const problem = lockProblem(json);
  if (problem) throw invalid('bad-lock', `not an imgpack lock: ${problem}`, path);
  return { lock: json as SetLock, sha256: `sha256:${createHash('sha256').update(raw).digest('hex')}` };
}

function lockProblem(v: unknown): string | undefined {
  const o = v as Partial<SetLock>;
  if (!o || typeof o !== 'object' || o.kind !== 'imgpack-lock') return 'kind is not "imgpack-lock"';
  if (o.version !== 1) return `version ${String(o.version)} is not 1`;
  if (!Array.isArray(o.sets) || !Array.isArray(o.images)) return 'sets and images must be lists';
  for (const [i, img] of o.images.entries()) {
    const at = `images[${i}]`;
    if (!img || typeof img !== 'object') return `${at} is not an object`;
    if (typeof img.reference !== 'string') return `${at}.reference is not a string`;
    try {
      parseReference(img.reference);
    } catch (e) {
      return `${at}.reference: ${(e as Error).message}`;
    }
    const d = digestProblem(img.digest);
    if (d) return `${at}.digest: ${d}`;
    if (typeof img.mediaType !== 'string' || !Number.isSafeInteger(img.size) || !Array.isArray(img.entries) || !img.entries.every((e) => typeof e === 'string')) return `${at} lacks mediaType, size or entries`;
    if (!Array.isArray(img.platforms) || img.platforms.length === 0) return `${at}.platforms is not a non-empty list`;
    for (const p of img.platforms) {
      if (!p || typeof p.platform !== 'string' || digestProblem(p.digest) || !Number.isSafeInteger(p.size)) return `${at}.platforms has an entry without platform, digest or size`;
    }
  }
  return undefined;
}

/** Written whole and atomically; returns its sha256 (what the transfer manifest records). */
export function writeLock(path: string, lock: SetLock): string {
  const text = JSON.stringify(lock, null, 2) + '\n';
  writeFileAtomically(path, text);
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** The transfer manifest beside a bundle (FILE.imgpack.json, or a volume set's), if any. */
export function transferManifestOf(spec: string): TransferManifest | undefined {
  try {
    const set = findVolumeSet(spec);
    if (set?.manifest) return set.manifest;
    const beside = manifestPathOf(spec);
    if (spec !== '-' && existsSync(beside)) return JSON.parse(readFileSync(beside, 'utf8')) as TransferManifest;
  } catch {
    // an unreadable transfer manifest is verify's to report, not the lock's
  }
  return undefined;
}

export interface LockComparison {
  ok: boolean;
  /** References of the lock the bundle holds exactly. */
  matched: string[];
  /** References of the lock the bundle does not hold. */
  missing: { reference: string; digest: string }[];
  /** References the bundle holds with other content than the lock's. */
  different: { reference: string; locked: string; found: string[]; reason: string }[];
  /** Names (or unnamed images) in the bundle that the lock does not name. */
  extra: { name: string | null; digest: string }[];
}

/** The digests a root holds: its own, and each image manifest under it. */
export function heldManifests(root: PlanRoot): { digest: string; images: { digest: string; platform: string }[] } {
  const n = root.node;
  if (n.kind === 'manifest') return { digest: n.manifest.digest ?? n.image.id, images: [{ digest: n.manifest.digest ?? n.image.id, platform: formatPlatform(n.image.platform) }] };
  if (n.kind === 'index') {
    const images = n.images
      .filter((i) => !isUnknownPlatform(i.platform))
      .flatMap((i) => i.manifests.filter((m) => m.digest && (!n.keep || n.keep.has(m.digest))).map((m) => ({ digest: m.digest!, platform: formatPlatform(i.platform) })));
    return { digest: n.index.digest, images };
  }
  return { digest: n.descriptor.digest, images: [] };
}

/**
 * Whether the roots hold exactly the locked image: every locked platform's manifest, and no other
 * platform. Undefined when they do; else why not.
 */
export function lockMismatch(roots: PlanRoot[], image: LockImage): string | undefined {
  const held = roots.map(heldManifests);
  const digests = new Set(held.flatMap((h) => [h.digest, ...h.images.map((i) => i.digest)]));
  const absent = image.platforms.filter((p) => !digests.has(p.digest));
  if (absent.length) return `${absent.map((p) => p.platform).join(', ')} ${absent.length === 1 ? 'is' : 'are'} not the locked manifest${absent.length === 1 ? '' : 's'}`;
  const locked = new Set(image.platforms.map((p) => p.digest));
  const others = held.flatMap((h) => h.images).filter((i) => !locked.has(i.digest));
  if (others.length) return `it also holds ${[...new Set(others.map((o) => o.platform))].join(', ')}, which the lock does not name`;
  return undefined;
}

/** The bundle's images (the roots of its archives) against the lock: missing, different digest, extra. */
export function compareWithLock(bundle: PlanRoot[], lock: SetLock): LockComparison {
  const roots = bundle.filter((r) => r.node.kind !== 'artifact');
  const result: LockComparison = { ok: true, matched: [], missing: [], different: [], extra: [] };
  const lockedNames = new Set<string>();
  const lockedDigests = new Set<string>();
  for (const image of lock.images) {
    const ref = parseReference(image.reference);
    for (const p of image.platforms) lockedDigests.add(p.digest);
    lockedDigests.add(image.digest);
    let named: PlanRoot[];
    if (ref.tag !== undefined) {
      const name = image.reference.replace(/@.*$/, '');
      lockedNames.add(name);
      named = roots.filter((r) => r.names.includes(name));
    } else {
      named = roots.filter((r) => {
        const h = heldManifests(r);
        return h.digest === image.digest || h.images.some((i) => image.platforms.some((p) => p.digest === i.digest));
      });
    }
    if (named.length === 0) {
      result.missing.push({ reference: image.reference, digest: image.digest });
      continue;
    }
    const why = lockMismatch(named, image);
    if (why) result.different.push({ reference: image.reference, locked: image.digest, found: named.map((r) => heldManifests(r).digest), reason: why });
    else result.matched.push(image.reference);
  }
  for (const r of roots) {
    const h = heldManifests(r);
    for (const name of r.names) if (!lockedNames.has(name)) result.extra.push({ name, digest: h.digest });
    if (r.names.length === 0 && !lockedDigests.has(h.digest) && !h.images.some((i) => lockedDigests.has(i.digest))) result.extra.push({ name: null, digest: h.digest });
  }
  result.ok = result.missing.length === 0 && result.different.length === 0 && result.extra.length === 0;
  return result;
}
