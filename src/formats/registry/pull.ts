/**
 * Pulling from a registry into an OCI layout directory (spooled under $TMPDIR): every blob
 * checked against its digest and size while it streams, several blobs at once, a download cut
 * short resumed with a Range request. With platforms, the other platforms' manifests of an
 * index are left out (readers report them as absent children, as for `docker save`). The layout
 * is then a source like any other: `docker://REF` works wherever a SOURCE does. Pulls of one set
 * run share their downloads (SharedDownloads): a blob two images need is fetched once.
 */
import { createHash, type Hash } from 'node:crypto';
import { copyFileSync, createReadStream, createWriteStream, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImgpackError, invalid, usage } from '../../errors.js';
import { algorithmOf, blobPath, digestOf } from '../../model/digest.js';
import { MediaType } from '../../model/media-types.js';
import type { Descriptor, Platform } from '../../model/oci.js';
import { formatFull, parseReferenceOrThrow } from '../../model/reference.js';
import { runPool } from '../../io/pool.js';
import { MANIFEST_ACCEPT, RegistryClient } from './client.js';
import { AttachedFinder, attachedTypeMatches } from './referrers.js';
import { digestStream } from '../../io/hashing.js';
import { cancelSignal, throwIfCancelled } from '../../io/cancel.js';
import type { HttpResponse } from './transport.js';
import { jsonDepth, MAX_JSON_DEPTH, maxJsonBytes } from '../read-json.js';
import { readCapped } from './read-capped.js';

export { readCapped };

export interface PullOptions {
  /** Only this platform of a multi-platform index (its other children are not fetched). */
  platform?: Platform;
  /** Only these platforms (with `platform`, that one too). */
  platforms?: Platform[];
  /** A local copy of a blob (the store's), used instead of downloading it again. */
  localBlob?: (digest: string) => string | undefined;
  /** Downloads shared with the other pulls of a set run. */
  shared?: SharedDownloads;
  /** Stops the pull (another image of a set failed); what was downloaded stays for a rerun. */
  signal?: AbortSignal;
  onProgress?: (e: { bytes: number; total: number; current: string }) => void;
  /**
   * Signatures, attestations, SBOMs and other OCI 1.1 referrers of every manifest fetched come
   * along (default); false leaves them; `types` keeps only those of these artifact types.
   */
  referrers?: false | { types?: string[] };
  /** Told how many requests the search for attached manifests made. */
  onReferrerRequests?: (n: number) => void;
}

/** A manifest or index as the registry sent it, checked against the size and depth limits. */
export interface FetchedManifest {
  raw: Buffer;
  digest: string;
  mediaType: string;
  json: { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
}

const CONCURRENT_BLOBS = 4;
const RESUMES = 3;

export async function pullToLayout(spec: string, dir: string, opts: PullOptions = {}): Promise<Descriptor> {
  const ref = parseReferenceOrThrow(spec);
  const client = new RegistryClient(ref);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const blobs: Descriptor[] = [];
  const want = [...(opts.platform ? [opts.platform] : []), ...(opts.platforms ?? [])];

  const fetchInto = async (reference: string, expect?: Descriptor): Promise<Descriptor> => {
    checkStopped(opts.signal, spec);
    const m = await fetchManifest(client, reference, expect);
    mkdirSync(join(dir, 'blobs', algorithmOf(m.digest)), { recursive: true });
    writeFileSync(join(dir, blobPath(m.digest)), m.raw);
    if (Array.isArray(m.json.manifests)) {
      for (const child of m.json.manifests) if (wantedPlatform(child.platform, want)) await fetchInto(child.digest, child);
    } else {
      if (m.json.config) blobs.push(m.json.config);
      blobs.push(...(m.json.layers ?? []));
    }
    return { mediaType: m.mediaType, digest: m.digest, size: m.raw.length };
  };

  const root = await fetchInto(ref.digest ?? ref.tag ?? 'latest');
  let total = 0;
  let done = 0;
  const progress = (n: number, current: string) => {
    done += n;
    opts.onProgress?.({ bytes: done, total, current });
  };
  const queued = new Set<string>();
  const downloadOne = async (b: Descriptor) => {
    checkStopped(opts.signal, spec);
    const target = join(dir, blobPath(b.digest));
    mkdirSync(join(dir, 'blobs', algorithmOf(b.digest)), { recursive: true });
    if (existsSync(target)) return;
    const local = opts.localBlob?.(b.digest);
    if (local) {
      copyFileSync(local, target); // the store's blobs were checked when they were written
      progress(b.size, b.digest);
      return;
    }
    const download = () => downloadBlob(client, b, target, (n) => progress(n, b.digest), `${formatFull(ref)}@${b.digest}`, opts.signal);
    if (!opts.shared) return download();
    if (await opts.shared.obtain(b, target, download)) progress(b.size, b.digest);
  };
  const fetchBlobs = async (list: Descriptor[]) => {
    const fresh = [...new Map(list.filter((b) => !queued.has(b.digest)).map((b) => [b.digest, b])).values()];
    for (const b of fresh) {
      queued.add(b.digest);
      total += b.size;
    }
    await runPool(fresh, CONCURRENT_BLOBS, downloadOne);
  };
  // The image's blobs download while what is attached to it is looked for: the search's round
  // trips hide behind the layers.
  const [imageBlobs, attachedSearch] = await Promise.allSettled([
    fetchBlobs(blobs),
    opts.referrers === false ? Promise.resolve({ manifests: [], requests: 0 }) : fetchAttached(client, root, dir, fetchBlobs, opts.referrers?.types, opts.signal, spec),
  ]);
  if (imageBlobs.status === 'rejected') throw imageBlobs.reason;
  if (attachedSearch.status === 'rejected') throw attachedSearch.reason;
  const attached = attachedSearch.value;
  opts.onReferrerRequests?.(attached.requests);
  const name = ref.tag !== undefined ? formatFull({ ...ref, digest: undefined }) : undefined;
  const desc: Descriptor = { ...root, ...(name ? { annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name } } : {}) };
  const artifacts = attached.manifests.map((a) => {
    const tagged = a.cosignTag ? formatFull({ ...ref, tag: a.cosignTag, digest: undefined }) : undefined;
    return { ...a.descriptor, ...(tagged ? { annotations: { 'io.containerd.image.name': tagged, 'org.opencontainers.image.ref.name': tagged } } : {}) };
  });
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [desc, ...artifacts] }));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return desc;
}

/**
 * The manifests attached to the root and to every manifest under it (signatures, attestations,
 * SBOMs, referrers), and what is attached to those in turn (a signature of an attestation), each
 * written into the layout with its blobs downloading while the next level is looked for. Byte for byte: a referrer is
 * fetched by the digest its listing gives, a cosign tag's manifest checked against nothing but
 * itself (its digest is what it is) and kept under its tag.
 */
async function fetchAttached(client: RegistryClient, root: Descriptor, dir: string, fetchBlobs: (blobs: Descriptor[]) => Promise<void>, types: string[] | undefined, signal: AbortSignal | undefined, spec: string) {
  const finder = new AttachedFinder(client);
  const manifests: { descriptor: Descriptor; cosignTag?: string }[] = [];
  const seen = new Set<string>();
  const todo = manifestDigestsUnder(dir, root.digest);
  const downloads: Promise<void>[] = []; // each level's blobs, while the next level is looked for
  // Level by level (the image, what refers to it, what refers to those...), each level's
  // requests at once: three sequential round trips for an image with signatures and SBOMs.
  for (let depth = 0; todo.length && depth < 8; depth++) {
    for (const d of todo) seen.add(d);
    const listings = await Promise.all(todo.map((d) => finder.find(d)));
    checkStopped(signal, spec);
    const wanted = listings.flat().filter((a) => !(a.descriptor && seen.has(a.descriptor.digest)));
    const unique = [...new Map(wanted.map((a) => [a.descriptor?.digest ?? a.reference, a])).values()];
    const fetched = await Promise.all(unique.map(async (a) => ({ a, m: await fetchManifest(client, a.reference, a.descriptor && { ...a.descriptor }) })));
    const next: string[] = [];
    for (const { a, m } of fetched) {
      if (seen.has(m.digest) || manifests.some((x) => x.descriptor.digest === m.digest)) continue;
      if (!attachedTypeMatches(m.json as Parameters<typeof attachedTypeMatches>[0], types)) continue;
      mkdirSync(join(dir, 'blobs', algorithmOf(m.digest)), { recursive: true });
      writeFileSync(join(dir, blobPath(m.digest)), m.raw);
      const download = fetchBlobs([...(m.json.config ? [m.json.config] : []), ...(m.json.layers ?? [])]);
      download.catch(() => {}); // awaited below; a failure is thrown there, not left unhandled
      downloads.push(download);
      const artifactType = (m.json as { artifactType?: string }).artifactType;
      manifests.push({ descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.raw.length, ...(artifactType ? { artifactType } : {}) }, cosignTag: a.cosignTag });
      next.push(m.digest);
    }
    todo.splice(0, todo.length, ...next);
  }
  await Promise.all(downloads);
  return { manifests, requests: finder.requests };
}

/** A manifest digest and, for an index, the digests of the children the layout holds. */
function manifestDigestsUnder(dir: string, digest: string): string[] {
  const out = [digest];
  try {
    const json = JSON.parse(readFileSync(join(dir, blobPath(digest)), 'utf8')) as { manifests?: Descriptor[] };
    for (const c of json.manifests ?? []) if (existsSync(join(dir, blobPath(c.digest)))) out.push(c.digest);
  } catch {
    // not JSON: the reader reports it
  }
  return out;
}

/**
 * GET of a manifest by tag or digest, held to the JSON limits; with `expect` (a child of an
 * index, or a pinned reference), its digest and size must be the expected ones.
 */
export async function fetchManifest(client: RegistryClient, reference: string, expect?: Descriptor): Promise<FetchedManifest> {
  const ref = client.ref;
  const res = await client.get(`manifests/${reference}`, MANIFEST_ACCEPT);
  const raw = await readCapped(res, maxJsonBytes(), `${formatFull(ref)}@${reference}`);
  const digest = digestOf(raw, expect ? algorithmOf(expect.digest) : reference.includes(':') ? algorithmOf(reference) : 'sha256');
  if (expect && (digest !== expect.digest || raw.length !== expect.size)) {
    throw invalid('digest-mismatch', `manifest from the registry has digest ${digest} (${raw.length} bytes), not ${expect.digest}: refused`, `${formatFull(ref)}@${expect.digest}`);
  }
  if (reference.includes(':') && digest !== reference) throw invalid('digest-mismatch', `manifest from the registry has digest ${digest}: refused`, `${formatFull(ref)}@${reference}`);
  if (jsonDepth(raw) > MAX_JSON_DEPTH) throw invalid('limit-json-depth', `the manifest nests deeper than ${MAX_JSON_DEPTH} levels: refused`, `${formatFull(ref)}@${digest}`);
  let json: FetchedManifest['json'];
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalid('bad-manifest', 'the registry sent a manifest that is not JSON', `${formatFull(ref)}@${digest}`);
  }
  if (!json || typeof json !== 'object') throw invalid('bad-manifest', 'the registry sent a manifest that is not a JSON object', `${formatFull(ref)}@${digest}`);
  const mediaType = json.mediaType ?? res.header('content-type')?.split(';')[0] ?? MediaType.ociManifest;
  return { raw, digest, mediaType, json };
}

/** Whether an index child is fetched: every child when no platform is asked for. */
export function wantedPlatform(p: Platform | undefined, want: Platform[]): boolean {
  if (want.length === 0 || !p) return true;
  if (p.os === 'unknown' && p.architecture === 'unknown') return true; // attestations stay with their image
  return want.some((w) => p.os === w.os && p.architecture === w.architecture && (!w.variant || p.variant === w.variant));
}

function checkStopped(signal: AbortSignal | undefined, subject: string): void {
  if (signal?.aborted) throw stopped(subject);
}

/** Not a failure of its own: the pull was stopped because another one failed. */
export function stopped(subject: string): ImgpackError {
  return usage('stopped', 'stopped: another image of the set failed', subject);
}

/**
 * The downloads of one set run: each blob downloaded once, however many of its images need it
 * (the others take a hard link of the checked file, or a copy across file systems), and at most
 * `limit` downloads at a time across all of them.
 */
export class SharedDownloads {
  private readonly files = new Map<string, Promise<string>>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  blobsShared = 0;
  bytesShared = 0;

  constructor(private readonly limit = 8) {}

  /** Puts the blob at `target`: true when it came from another pull of the run. */
  async obtain(b: Descriptor, target: string, download: () => Promise<void>): Promise<boolean> {
    for (;;) {
      const other = this.files.get(b.digest);
      if (!other) break;
      let from: string;
      try {
        from = await other;
      } catch {
        continue; // that download failed: another image (perhaps another registry) tries its own
      }
      try {
        linkSync(from, target);
      } catch {
        rmSync(target, { force: true });
        copyFileSync(from, target);
      }
      this.blobsShared++;
      this.bytesShared += b.size;
      return true;
    }
    const mine = this.limited(download).then(() => target);
    this.files.set(b.digest, mine);
    mine.catch(() => this.files.delete(b.digest));
    await mine;
    return false;
  }

  private async limited(work: () => Promise<void>): Promise<void> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      await work();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * One blob into `target`, hashed as it streams. A connection that breaks mid-blob is resumed
 * where the file on disk stops (Range), up to RESUMES times, and so is a `.part` an earlier run
 * left; the digest of a resumed download is then taken from the file, so that what is checked
 * is exactly what is kept.
 */
async function downloadBlob(client: RegistryClient, b: Descriptor, target: string, onBytes: (n: number) => void, subject: string, signal?: AbortSignal): Promise<void> {
  const temp = `${target}.part`;
  const algorithm = algorithmOf(b.digest);
  const hash: Hash = createHash(algorithm);
  let failures = 0;
  let resumed = false;
  for (;;) {
    checkStopped(signal, subject);
    const have = existsSync(temp) ? statSync(temp).size : 0;
    if (have === b.size) {
      // An earlier run got every byte and was stopped before the rename: checked below, as a whole
      // (a Range request for nothing more is refused with 416).
      resumed = true;
      break;
    }
    if (have > b.size) rmSync(temp, { force: true });
    const res = await client.get(`blobs/${b.digest}`, undefined, have > 0 ? { Range: `bytes=${have}-` } : undefined);
    const stop = () => res.body.destroy(stopped(subject));
    signal?.addEventListener('abort', stop, { once: true });
    const append = have > 0 && res.status === 206; // a registry that ignores Range sends it all again
    resumed ||= append;
    let size = append ? have : 0;
    try {
      await pipeline(res.body, new Transform({
        transform(chunk: Buffer, _e, cb) {
          size += chunk.length;
          if (size > b.size) return cb(invalid('digest-mismatch', `blob from the registry is larger than its descriptor's ${b.size} bytes: refused`, subject));
          hash.update(chunk);
          onBytes(chunk.length);
          cb(null, chunk);
        },
      }), createWriteStream(temp, { flags: append ? 'a' : 'w' }), { signal: cancelSignal });
      break;
    } catch (e) {
      throwIfCancelled(); // stopped: the .part stays for the next run (pull-cache.ts)
      if (e instanceof ImgpackError) throw e;
      checkStopped(signal, subject);
      if (++failures > RESUMES) throw usage('registry-unreachable', `the download broke off after ${size} bytes, ${failures} times: ${(e as Error).message}`, subject);
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }
  // The streamed hash saw only this attempt's bytes: after a resume or a failed attempt, the file.
  const actual = resumed || failures > 0
    ? (await digestStream(createReadStream(temp), { algorithms: [algorithm], subject })).stored[algorithm]
    : `${algorithm}:${hash.digest('hex')}`;
  const size = statSync(temp).size;
  if (actual !== b.digest || size !== b.size) {
    rmSync(temp, { force: true }); // not worth resuming: the next run starts this blob afresh
    throw invalid('digest-mismatch', `blob from the registry has digest ${actual} (${size} bytes), not ${b.digest} (${b.size}): refused`, subject);
  }
  renameSync(temp, target);
}
