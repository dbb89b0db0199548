/**
 * Running an image set (pull/save/copy -f): resolve every entry (tag filters against the
 * registry's tag list, fromManifests through find-images, platforms), pin what a lock already
 * pins, write the lock, fetch the images several at once with their shared blobs downloaded once,
 * and hand the fetched images to the caller's writer (the store, an archive, a registry).
 *
 * Without keepGoing the first failure stops the run: pulls in flight are stopped, nothing is
 * delivered (so nothing half-done is named in the store), and downloads stay in the pull cache
 * for a rerun. With keepGoing every failure is recorded (reference, registry, reason, and what a
 * retry needs) and everything else is delivered.
 */
import { setMaxListeners } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve as resolvePath } from 'node:path';
import { fromSystemError, ImgpackError, invalid } from '../errors.js';
import { writeFileAtomically } from '../io/atomic.js';
import { openSource, type ArchiveSource } from '../formats/source.js';
import { SharedDownloads } from '../formats/registry/pull.js';
import { formatPlatform, hostPlatform, isPlatformSpec, parsePlatform } from '../model/oci.js';
import { familiarName, formatFull, parseReference, repositoryOf } from '../model/reference.js';
import { entryKey, where, type ImageSet, type PlatformChoice, type SetEntry, type SetOrigin } from './set-file.js';
import { checkTagFilter, selectTags, type TagFilter } from './tag-filter.js';
import { heldManifests, lockMismatch, readLock, writeLock, type LockImage, type SetLock } from './lock.js';
import { mergeRoots, rootsNamed, rootsOf, type PlanRoot } from './plan.js';

export interface ImageSetOptions {
  /** For entries that name no platforms. Default: this host's, as docker pull (and an image for one other platform only is taken, as docker pull takes it). */
  platforms?: PlatformChoice;
  /** Resolve against this source (the store, an archive) instead of the registries. */
  from?: ArchiveSource;
  /** The lock to write; with `read`, the lock to honour first when it exists. */
  lock?: { path: string; read: boolean; keepOthers?: boolean };
  /** Resolve only: nothing is fetched and nothing is written. */
  dryRun?: boolean;
  keepGoing?: boolean;
  /** Images fetched at once (default 4). */
  concurrency?: number;
  /** Blob downloads at once across the whole set (default 8). */
  downloads?: number;
  /** Tags asked for per page of a tag list. */
  tagPageSize?: number;
  onProgress?: (e: SetProgress) => void;
}

export interface SetProgress {
  phase: 'resolve' | 'fetch';
  /** Entries resolved, or images fetched (and failed). */
  done: number;
  total: number;
  bytes: number;
  totalBytes: number;
  /** The images being fetched now. */
  current: string[];
}

export interface ResolvedImage extends LockImage {
  /** Taken from the lock, not resolved now. */
  locked: boolean;
  /** The platforms fetched ('all': every one the index has). */
  want: PlatformChoice;
  origin: SetOrigin;
  /** Outside the lock: a retry of an image the lock already pins. */
  outsideLock?: boolean;
}

export type SetNote =
  | { kind: 'tag-moved'; reference: string; locked: string; now: string }
  | { kind: 'tag-gone'; reference: string; locked: string }
  | { kind: 'platforms-missing'; reference: string; missing: string[]; taken: string[] }
  | { kind: 'manifest-problem'; file: string; line?: number; message: string }
  /** A run without --lock replaced a lock that pinned other digests. */
  | { kind: 'lock-replaced'; path: string; changed: string[]; added: string[]; removed: string[] };

/** One line of a keep-going report; `retry` is a set entry that fetches exactly what failed. */
export interface SetFailure {
  reference: string;
  registry: string;
  code: string;
  reason: string;
  exitCode: 1 | 2;
  retry: RetryEntry;
}

export interface RetryEntry {
  ref?: string;
  tags?: TagFilter;
  fromManifests?: string;
  platforms?: string[] | 'all';
  /** The image is pinned by the lock already: fetch this digest, leave the lock alone. */
  pinned?: true;
  /** fromManifests: the set entry's key in the lock, under which a retry records what it finds. */
  key?: string;
}

export interface LockInfo {
  path: string;
  sha256: string;
  /** Written by this run (new, or with entries added or dropped), or read as it was. */
  written: boolean;
  images: number;
}

export interface ImageSetSummary {
  images: ResolvedImage[];
  failures: SetFailure[];
  notes: SetNote[];
  lock?: LockInfo;
  /** Bytes the images need, each distinct blob once. */
  size: number;
}

export interface Delivery {
  sources: ArchiveSource[];
  /** The fetched images' roots, each under the names the set asked for. */
  roots: PlanRoot[];
  summary: ImageSetSummary;
}

export interface ImageSetReport<T> extends ImageSetSummary {
  /** Set when images were fetched from registries. */
  fetched?: { images: number; blobsShared: number; bytesShared: number };
  delivered?: T;
}

const RESOLVE_AT_ONCE = 8;

export async function runImageSet<T>(set: ImageSet, opts: ImageSetOptions, deliver?: (d: Delivery) => Promise<T>): Promise<ImageSetReport<T>> {
  const run = new SetRun(set, opts);
  const images = await run.resolve();
  const lock = opts.dryRun ? undefined : run.writeLock(images);
  const summary: ImageSetSummary = { images, failures: run.failures, notes: run.notes, lock, size: run.size(images) };
  if (opts.dryRun || !deliver) return summary;
  if (opts.from) {
    const roots = mergeRoots(images.map((img) => run.localRoots(img)));
    return { ...summary, delivered: await deliver({ sources: [opts.from], roots, summary }) };
  }
  const { fetched, shared } = await run.fetch(images);
  let ok = false;
  try {
    const sources = fetched.map((f) => f.source);
    const roots = mergeRoots(sources.map((s) => rootsOf(s)));
    const delivered = fetched.length || !run.failures.length ? await deliver({ sources, roots, summary }) : undefined;
    ok = true;
    return { ...summary, fetched: { images: fetched.length, blobsShared: shared.blobsShared, bytesShared: shared.bytesShared }, delivered };
  } finally {
    // After a failure, the downloads stay for a rerun; after success, they go.
    for (const f of fetched) await f.source.close(!ok);
  }
}

/** What is wanted of one reference, merged over every entry that names it. */
interface Wanted {
  reference: string;
  want: PlatformChoice;
  /** Platforms were named: an image for another platform only is refused. */
  strict: boolean;
  keys: string[];
  origin: SetOrigin;
  outsideLock?: boolean;
  retry: RetryEntry;
}

class SetRun {
  readonly failures: SetFailure[] = [];
  readonly notes: SetNote[] = [];
  private readonly previous?: { lock: SetLock; sha256: string };
  private firstError?: unknown;

  constructor(private readonly set: ImageSet, private readonly opts: ImageSetOptions) {
    if (opts.lock?.read && existsSync(opts.lock.path)) this.previous = readLock(opts.lock.path);
  }

  private get defaults(): PlatformChoice {
    return this.opts.platforms ?? [hostPlatform()];
  }

  /** Records a failure; without keepGoing, the first one is thrown at the end of the phase. */
  private fail(e: unknown, reference: string, retry: RetryEntry): void {
    const err = e instanceof ImgpackError ? e : invalid('unexpected', (e as Error)?.message?.split('\n')[0] ?? String(e), reference);
    if (err.code === 'stopped') return; // not a failure of its own
    if (!this.opts.keepGoing || err.exitCode > 2) { // a signal stops the whole set, kept going or not
      this.firstError ??= err;
      return;
    }
    let registry = '';
    try {
      registry = this.opts.from ? this.opts.from.display : parseReference(reference.replace(/^fromManifests /, '')).domain;
    } catch {
      registry = this.opts.from?.display ?? '';
    }
    this.failures.push({ reference, registry, code: err.code, reason: err.message, exitCode: err.exitCode as 1 | 2, retry });
  }

  private throwFirst(): void {
    if (this.firstError) throw this.firstError;
  }

  async resolve(): Promise<ResolvedImage[]> {
    const byKey = new Map<string, LockImage[]>();
    for (const img of this.previous?.lock.images ?? []) for (const k of img.entries) byKey.set(k, [...(byKey.get(k) ?? []), img]);
    const locked = new Map<string, ResolvedImage>();
    const wanted = new Map<string, Wanted>();
    const entries = this.set.entries;
    let done = 0;
    const progress = () => this.opts.onProgress?.({ phase: 'resolve', done, total: entries.length, bytes: 0, totalBytes: 0, current: [] });

    // Entries into references: the lock's, the tag lists', find-images'.
    await pool(entries, RESOLVE_AT_ONCE, () => !!this.firstError, async (entry) => {
      const platforms = entry.platforms ?? this.defaults;
      const strict = entry.platforms !== undefined || this.opts.platforms !== undefined;
      const key = (entry.kind === 'manifests' && entry.key) || entryKey(entry, platforms);
      const explicit = strict ? platformStrings(platforms) : undefined;
      const fromLock = (entry.kind === 'image' && entry.outsideLock) || (entry.kind === 'manifests' && entry.reread) ? undefined : byKey.get(key);
      if (fromLock) {
        for (const img of fromLock) {
          const have = locked.get(img.reference);
          if (have) have.entries = [...new Set([...have.entries, key])];
          else locked.set(img.reference, { ...img, entries: [key], locked: true, want: img.platforms.map((p) => parsePlatform(p.platform)), origin: entry.origin });
        }
      } else {
        try {
          const refs = await this.referencesOf(entry, explicit);
          for (const reference of refs) {
            const w = wanted.get(reference);
            const pinned = entry.kind === 'image' && entry.outsideLock;
            if (!w) {
              wanted.set(reference, { reference, want: platforms, strict, keys: pinned ? [] : [key], origin: entry.origin, outsideLock: pinned || undefined, retry: { ref: reference, ...(explicit ? { platforms: explicit } : {}), ...(pinned ? { pinned: true as const } : {}) } });
            } else {
              w.want = unionPlatforms(w.want, platforms);
              w.strict ||= strict;
              if (!pinned) w.keys.push(key);
            }
          }
        } catch (e) {
          this.fail(e, entryName(entry), retryOf(entry, explicit));
        }
      }
      done++;
      progress();
    });
    this.throwFirst();

    // A reference the lock pins for the platforms wanted keeps its digest, even when the entry
    // that names it is new or changed (a filter that now picks one tag more pins the others).
    const byReference = new Map((this.previous?.lock.images ?? []).map((i) => [i.reference, i]));
    for (const w of wanted.values()) {
      const img = byReference.get(w.reference);
      if (!img || w.outsideLock || locked.has(w.reference) || !coversPlatforms(img, w.want)) continue;
      locked.set(w.reference, { ...img, entries: [], locked: true, want: img.platforms.map((p) => parsePlatform(p.platform)), origin: w.origin });
    }

    // References into digests, platforms and sizes.
    const fresh = [...wanted.values()].filter((w) => {
      const l = locked.get(w.reference);
      if (l) l.entries = [...new Set([...l.entries, ...w.keys])];
      return !l;
    });
    const resolved: ResolvedImage[] = [];
    this.blobSizes = new Map();
    await pool(fresh, RESOLVE_AT_ONCE, () => !!this.firstError, async (w) => {
      try {
        resolved.push(this.opts.from ? this.resolveLocal(w) : await this.resolveRemote(w));
      } catch (e) {
        this.fail(e, w.reference, w.retry);
      }
    });
    this.throwFirst();

    // Locked images: a tag that moved is reported (the lock keeps its digest); in a local source the name must still hold the locked content.
    const pinned = [...locked.values()];
    await pool(pinned, RESOLVE_AT_ONCE, () => !!this.firstError, async (img) => {
      try {
        if (this.opts.from) this.checkLocal(img);
        else await this.checkMoved(img);
      } catch (e) {
        pinned.splice(pinned.indexOf(img), 1);
        this.fail(e, img.reference, { ref: pinnedReference(img), platforms: img.platforms.map((p) => p.platform), pinned: true });
      }
    });
    this.throwFirst();
    return [...pinned, ...resolved].sort((a, b) => a.reference.localeCompare(b.reference));
  }

  private blobSizes = new Map<string, number>();

  size(images: ResolvedImage[]): number {
    // Distinct blobs where resolution saw them; locked images count whole.
    const seen = new Set<string>();
    let n = 0;
    for (const img of images) {
      const blobs = this.imageBlobs.get(img.reference);
      if (!blobs) {
        n += img.size;
        continue;
      }
      n += blobs.manifests;
      for (const [d, size] of blobs.blobs) {
        if (seen.has(d)) continue;
        seen.add(d);
        n += size;
      }
    }
    return n;
  }

  private readonly imageBlobs = new Map<string, { manifests: number; blobs: Map<string, number> }>();

  private async referencesOf(entry: SetEntry, explicit: string[] | 'all' | undefined): Promise<string[]> {
    if (entry.kind === 'image') return [entry.reference];
    if (entry.kind === 'tags') {
      const tags = this.opts.from ? localTags(this.opts.from, entry.repository) : entry.filter.list ? [] : await (await import('../formats/registry/resolve.js')).listTags(entry.repository, this.opts.tagPageSize);
      const picked = selectTags(tags, entry.filter);
      if (picked.length === 0) throw invalid('no-matching-tags', `no tag of ${familiarName(entry.repository)} matches the filter (${tags.length} tag${tags.length === 1 ? '' : 's'} listed)`, where(entry.origin));
      return picked.map((t) => `${entry.repository}:${t}`);
    }
    return this.manifestReferences(entry, explicit);
  }

  /**
   * What find-images finds under the path. A problem it reports as an error (a file it could not
   * read, a template left unrendered) or a reference that is not one (an unset variable) fails
   * the entry, and is retried as a whole; its warnings are notes. The references found are fetched.
   */
  private async manifestReferences(entry: Extract<SetEntry, { kind: 'manifests' }>, explicit: string[] | 'all' | undefined): Promise<string[]> {
    const { findImages } = await import('./find-images.js');
    const found = await findImages([entry.path]);
    const retry = { ...retryOf(entry, explicit), key: entry.key ?? entryKey(entry, entry.platforms ?? this.defaults) };
    const name = entryName(entry);
    for (const p of found.problems) {
      const at = p.line ? `${p.file}:${p.line}` : p.file;
      if (p.severity === 'warning') this.notes.push({ kind: 'manifest-problem', file: p.file, line: p.line, message: p.message });
      else this.fail(invalid(p.code, `${p.message} (${at})`, name), name, retry);
    }
    for (const r of found.references) {
      if (r.normalized) continue;
      const l = r.locations[0];
      this.fail(invalid('bad-reference', `not a usable reference: ${r.reference}${l ? ` (${l.line ? `${l.file}:${l.line}` : l.file})` : ''}`, name), name, retry);
    }
    return found.references.filter((r) => r.normalized).map((r) => formatFull(parseReference(r.normalized)));
  }

  private async resolveRemote(w: Wanted): Promise<ResolvedImage> {
    const { resolveRemote } = await import('../formats/registry/resolve.js');
    const r = await resolveRemote(w.reference, w.want, w.strict);
    if (r.missing.length) this.notes.push({ kind: 'platforms-missing', reference: w.reference, missing: r.missing, taken: r.platforms.map((p) => p.platform) });
    const blobBytes = [...r.blobs.values()].reduce((a, b) => a + b, 0);
    this.imageBlobs.set(w.reference, { manifests: r.size - blobBytes, blobs: r.blobs });
    // What is fetched is what was resolved: the platforms found, not the ones asked for.
    const want: PlatformChoice = w.want === 'all' ? 'all' : r.platforms.filter((p) => p.platform !== 'unknown').map((p) => parsePlatform(p.platform));
    return { reference: w.reference, digest: r.digest, mediaType: r.mediaType, platforms: r.platforms, size: r.size, entries: w.keys, locked: false, want, origin: w.origin, outsideLock: w.outsideLock };
  }

  /** A reference in the store or an archive: the root its name points at, for the platforms asked. */
  private resolveLocal(w: Wanted): ResolvedImage {
    const source = this.opts.from!;
    const ref = parseReference(w.reference);
    const name = formatFull({ ...ref, digest: undefined });
    const platforms = w.strict && w.want !== 'all' ? w.want : undefined;
    const roots = ref.tag !== undefined ? rootsNamed(source, name, { platforms }) : [];
    if (roots.length === 0) {
      const any = ref.tag !== undefined && rootsNamed(source, name).length > 0;
      throw invalid(any ? 'no-such-platform' : 'no-such-image', any ? `${familiarName(name)} in ${source.display} has no image for ${w.want === 'all' ? 'any platform' : w.want.map(formatPlatform).join(', ')}` : `no image in ${source.display} is named ${familiarName(name)}`, w.reference);
    }
    const held = heldManifests(roots[0]);
    if (ref.digest && held.digest !== ref.digest && !held.images.some((i) => i.digest === ref.digest)) {
      throw invalid('digest-mismatch', `${familiarName(name)} in ${source.display} is ${held.digest}, not ${ref.digest}`, w.reference);
    }
    const sizes = localSizes(roots[0]);
    this.imageBlobs.set(w.reference, sizes);
    const size = sizes.manifests + [...sizes.blobs.values()].reduce((a, b) => a + b, 0);
    return { reference: w.reference, digest: held.digest, mediaType: mediaTypeOf(roots[0]), platforms: held.images.map((i) => ({ ...i, size: imageSize(roots[0], i.digest) })), size, entries: w.keys, locked: false, want: w.want, origin: w.origin, outsideLock: w.outsideLock };
  }

  private checkLocal(img: ResolvedImage): void {
    const roots = rootsNamed(this.opts.from!, img.reference.replace(/@.*$/, ''), { manifests: new Set(img.platforms.map((p) => p.digest)) });
    const why = roots.length === 0 ? `${this.opts.from!.display} does not hold it` : lockMismatch(roots, img);
    if (why) throw invalid('lock-mismatch', `not the locked content (${img.digest}): ${why}`, img.reference);
  }

  private async checkMoved(img: ResolvedImage): Promise<void> {
    const ref = parseReference(img.reference);
    if (ref.tag === undefined) return;
    const { currentDigest } = await import('../formats/registry/resolve.js');
    const now = await currentDigest(formatFull({ ...ref, digest: undefined }));
    if (now === undefined) this.notes.push({ kind: 'tag-gone', reference: img.reference, locked: img.digest });
    else if (now !== img.digest) this.notes.push({ kind: 'tag-moved', reference: img.reference, locked: img.digest, now });
  }

  /** The lock of this run: the previous lock's images still named by the set, and what was resolved now. */
  writeLock(images: ResolvedImage[]): LockInfo | undefined {
    const target = this.opts.lock;
    if (!target) return undefined;
    const inLock = images.filter((i) => !i.outsideLock);
    const mine = new Set(inLock.map((i) => i.reference));
    const before = new Map((this.previous?.lock.images ?? []).map((i) => [i.reference, i]));
    // A retry adds to the lock: what it did not touch stays, and so do the entries that named what it did.
    const kept = target.keepOthers ? [...before.values()].filter((i) => !mine.has(i.reference)) : [];
    const entriesOf = (i: ResolvedImage) => [...new Set([...(target.keepOthers ? before.get(i.reference)?.entries ?? [] : []), ...i.entries])].sort();
    const lockImages: LockImage[] = [...kept, ...inLock.map((i) => ({ reference: i.reference, digest: i.digest, mediaType: i.mediaType, platforms: i.platforms, size: i.size, entries: entriesOf(i) }))]
      .sort((a, b) => a.reference.localeCompare(b.reference));
    const lock: SetLock = { kind: 'imgpack-lock', version: 1, sets: target.keepOthers && this.previous ? this.previous.lock.sets : this.set.files, images: lockImages };
    if (this.previous && JSON.stringify(this.previous.lock) === JSON.stringify(lock)) {
      return { path: target.path, sha256: this.previous.sha256, written: false, images: lockImages.length };
    }
    if (!target.read) this.noteReplaced(target.path, lockImages);
    return { path: target.path, sha256: writeLock(target.path, lock), written: true, images: lockImages.length };
  }

  /** Replacing a lock that pinned other digests is said, never silent. */
  private noteReplaced(path: string, now: LockImage[]): void {
    let before: SetLock;
    try {
      if (!existsSync(path)) return;
      before = readLock(path).lock;
    } catch {
      return; // not a lock we can read: nothing to compare
    }
    const old = new Map(before.images.map((i) => [i.reference, i.digest]));
    const fresh = new Map(now.map((i) => [i.reference, i.digest]));
    const changed = [...fresh].filter(([r, d]) => old.has(r) && old.get(r) !== d).map(([r]) => r);
    const added = [...fresh.keys()].filter((r) => !old.has(r));
    const removed = [...old.keys()].filter((r) => !fresh.has(r));
    if (changed.length || added.length || removed.length) this.notes.push({ kind: 'lock-replaced', path, changed, added, removed });
  }

  localRoots(img: ResolvedImage): PlanRoot[] {
    const name = img.reference.replace(/@.*$/, '');
    return rootsNamed(this.opts.from!, name, { manifests: new Set(img.platforms.map((p) => p.digest)) });
  }

  /** Every image pulled (pinned to its digest), several at once, sharing their downloads. */
  async fetch(images: ResolvedImage[]): Promise<{ fetched: { image: ResolvedImage; source: ArchiveSource }[]; shared: SharedDownloads }> {
    const shared = new SharedDownloads(this.opts.downloads ?? 8);
    const stop = new AbortController();
    setMaxListeners(0, stop.signal); // every download in flight listens to it
    const fetched: { image: ResolvedImage; source: ArchiveSource }[] = [];
    const bytes = new Map<string, number>();
    const totalBytes = images.reduce((n, i) => n + i.size, 0);
    const current = new Set<string>();
    let done = 0;
    const progress = () => this.opts.onProgress?.({ phase: 'fetch', done, total: images.length, bytes: [...bytes.values()].reduce((a, b) => a + b, 0), totalBytes, current: [...current] });
    await pool(images, this.opts.concurrency ?? 4, () => !!this.firstError, async (img) => {
      current.add(img.reference);
      progress();
      try {
        const source = await openSource(`docker://${pinnedReference(img)}`, {
          platforms: img.want === 'all' ? undefined : img.want,
          shared,
          signal: stop.signal,
          onProgress: (e) => {
            bytes.set(img.reference, e.bytes);
            progress();
          },
        });
        fetched.push({ image: img, source });
      } catch (e) {
        this.fail(e, img.reference, { ref: pinnedReference(img), platforms: img.want === 'all' ? 'all' : img.platforms.map((p) => p.platform), pinned: true });
        if (this.firstError) stop.abort();
      } finally {
        current.delete(img.reference);
        done++;
        progress();
      }
    });
    if (this.firstError) {
      for (const f of fetched) await f.source.close(true);
      this.throwFirst();
    }
    // Set order, not completion order: the output is the same whichever pull finished first.
    fetched.sort((a, b) => a.image.reference.localeCompare(b.image.reference));
    return { fetched, shared };
  }
}

/** `repo:tag@digest`: the tag names the image, the digest is what is fetched. */
export function pinnedReference(img: { reference: string; digest: string }): string {
  return `${img.reference.replace(/@.*$/, '')}@${img.digest}`;
}

/** Whether a locked image holds every platform wanted (never said of 'all': the registry may have more now). */
function coversPlatforms(img: LockImage, want: PlatformChoice): boolean {
  if (want === 'all') return false;
  return want.every((w) => img.platforms.some((p) => p.platform === formatPlatform(w) || p.platform.startsWith(`${formatPlatform(w)}/`)));
}

function platformStrings(p: PlatformChoice): string[] | 'all' {
  return p === 'all' ? 'all' : p.map(formatPlatform);
}

function unionPlatforms(a: PlatformChoice, b: PlatformChoice): PlatformChoice {
  if (a === 'all' || b === 'all') return 'all';
  const out = [...a];
  for (const p of b) if (!out.some((q) => formatPlatform(q) === formatPlatform(p))) out.push(p);
  return out;
}

function entryName(entry: SetEntry): string {
  return entry.kind === 'image' ? entry.reference : entry.kind === 'tags' ? entry.repository : `fromManifests ${entry.written}`;
}

function retryOf(entry: SetEntry, platforms: string[] | 'all' | undefined): RetryEntry {
  const p = platforms ? { platforms } : {};
  if (entry.kind === 'image') return { ref: entry.reference, ...p, ...(entry.outsideLock ? { pinned: true as const } : {}) };
  if (entry.kind === 'tags') return { ref: entry.repository, tags: entry.filter, ...p };
  return { fromManifests: entry.path, ...p };
}

/** The tags a local source holds for a repository. */
function localTags(source: ArchiveSource, repository: string): string[] {
  const tags = new Set<string>();
  for (const r of rootsOf(source)) {
    for (const n of r.names) {
      const ref = parseReference(n);
      if (repositoryOf(ref) === repository && ref.tag !== undefined) tags.add(ref.tag);
    }
  }
  return [...tags];
}

function imagesOf(root: PlanRoot) {
  const n = root.node;
  return n.kind === 'manifest' ? [n.image] : n.kind === 'index' ? n.images : [];
}

function localSizes(root: PlanRoot): { manifests: number; blobs: Map<string, number> } {
  const blobs = new Map<string, number>();
  let manifests = root.node.kind === 'index' ? root.node.index.raw.length : 0;
  for (const img of imagesOf(root)) {
    blobs.set(img.id, img.config.raw.length);
    for (const m of img.manifests) {
      manifests += m.raw?.length ?? 0;
      for (const l of m.layers) blobs.set(l.descriptor.digest, l.descriptor.size);
    }
  }
  return { manifests, blobs };
}

function imageSize(root: PlanRoot, manifestDigest: string): number {
  for (const img of imagesOf(root)) {
    const m = img.manifests.find((x) => x.digest === manifestDigest);
    if (m) return (m.raw?.length ?? 0) + img.config.raw.length + m.layers.reduce((n, l) => n + l.descriptor.size, 0);
  }
  return 0;
}

function mediaTypeOf(root: PlanRoot): string {
  const n = root.node;
  if (n.kind === 'index') return n.index.json.mediaType ?? n.index.mediaType;
  if (n.kind === 'manifest') return n.manifest.json?.mediaType ?? n.manifest.mediaType ?? '';
  return n.descriptor.mediaType;
}

/** Runs `work` over `items`, `limit` at a time, starting no new item once `stopped()`. */
async function pool<T>(items: T[], limit: number, stopped: () => boolean, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !stopped()) await work(items[next++]);
  }));
}


/** A keep-going report: what failed, and what `pull --retry` fetches again. */
export interface FailureReport {
  kind: 'imgpack-failures';
  version: 1;
  /** The lock of the run, relative to the report: a retry reads it and adds what it resolves. */
  lock?: string;
  failures: SetFailure[];
}

export function writeFailureReport(path: string, failures: SetFailure[], lockPath?: string): void {
  // Relative to the report, so that the two can move together (to the machine that retries).
  const lock = lockPath ? relative(dirname(resolvePath(path)), resolvePath(lockPath)) : undefined;
  const report: FailureReport = { kind: 'imgpack-failures', version: 1, ...(lock ? { lock } : {}), failures };
  writeFileAtomically(path, JSON.stringify(report, null, 2) + '\n');
}

/** A report as the set of what failed: entries that did not resolve, images pinned to their digests that did not arrive. */
export function readFailureReport(path: string): { set: ImageSet; lock?: string } {
  let report: FailureReport;
  try {
    report = JSON.parse(readFileSync(path, 'utf8')) as FailureReport;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw fromSystemError(e, path);
    throw invalid('bad-report', 'the report is not JSON', path);
  }
  if (report?.kind !== 'imgpack-failures' || report.version !== 1 || !Array.isArray(report.failures)) throw invalid('bad-report', 'not an imgpack keep-going report (--report FILE)', path);
  if (report.lock !== undefined && typeof report.lock !== 'string') throw invalid('bad-report', 'lock is not a path', path);
  const entries = report.failures.map((f, i): SetEntry => {
    const r = f?.retry;
    const origin: SetOrigin = { file: `${path}: failures[${i}]` };
    if (!r || typeof r !== 'object') throw invalid('bad-report', 'a failure has no retry entry', where(origin));
    let platforms: PlatformChoice | undefined;
    if (r.platforms === 'all') platforms = 'all';
    else if (r.platforms !== undefined) {
      if (!Array.isArray(r.platforms) || !r.platforms.every(isPlatformSpec)) throw invalid('bad-report', 'platforms is a list of os/arch[/variant]', where(origin));
      platforms = r.platforms.map(parsePlatform);
    }
    if (typeof r.fromManifests === 'string') {
      if (r.key !== undefined && typeof r.key !== 'string') throw invalid('bad-report', 'key is not a string', where(origin));
      return { kind: 'manifests', path: r.fromManifests, written: r.fromManifests, platforms, origin, reread: true, ...(r.key ? { key: r.key } : {}) };
    }
    if (typeof r.ref !== 'string') throw invalid('bad-report', 'a retry entry needs ref or fromManifests', where(origin));
    let ref;
    try {
      ref = parseReference(r.ref, { defaultTag: r.tags === undefined });
    } catch (e) {
      throw invalid('bad-report', `invalid reference: ${(e as Error).message}`, `${where(origin)}: ${r.ref}`);
    }
    if (r.tags !== undefined) {
      const problem = typeof r.tags === 'object' && r.tags ? checkTagFilter(r.tags) : 'tags is not a filter';
      if (problem) throw invalid('bad-report', problem, where(origin));
      return { kind: 'tags', repository: repositoryOf(ref), filter: r.tags, platforms, origin };
    }
    return { kind: 'image', reference: formatFull(ref), platforms, origin, ...(r.pinned ? { outsideLock: true } : {}) };
  });
  return { set: { entries, files: [] }, lock: report.lock === undefined ? undefined : resolvePath(dirname(path), report.lock) };
}
