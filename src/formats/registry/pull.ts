/**
 * Pulling from a registry into an OCI layout directory (spooled under $TMPDIR): every blob
 * checked against its digest and size while it streams, several blobs at once, a download cut
 * short resumed with a Range request. With a platform, the other platforms' manifests of an
 * index are left out (readers report them as absent children, as for `docker save`). The layout
 * is then a source like any other: `docker://REF` works wherever a SOURCE does.
 */
import { createHash, type Hash } from 'node:crypto';
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
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
import { digestStream } from '../../io/hashing.js';
import type { HttpResponse } from './transport.js';
import { jsonDepth, MAX_JSON_DEPTH, maxJsonBytes } from '../read-json.js';

export interface PullOptions {
  /** Only this platform of a multi-platform index (its other children are not fetched). */
  platform?: Platform;
  /** A local copy of a blob (the store's), used instead of downloading it again. */
  localBlob?: (digest: string) => string | undefined;
  onProgress?: (e: { bytes: number; total: number; current: string }) => void;
}

const CONCURRENT_BLOBS = 4;
const RESUMES = 3;

export async function pullToLayout(spec: string, dir: string, opts: PullOptions = {}): Promise<Descriptor> {
  const ref = parseReferenceOrThrow(spec);
  const client = new RegistryClient(ref);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const blobs: Descriptor[] = [];

  const fetchManifest = async (reference: string, expect?: Descriptor): Promise<Descriptor> => {
    const res = await client.get(`manifests/${reference}`, MANIFEST_ACCEPT);
    const raw = await readCapped(res, maxJsonBytes(), `${formatFull(ref)}@${reference}`);
    const digest = digestOf(raw, expect ? algorithmOf(expect.digest) : 'sha256');
    if (expect && (digest !== expect.digest || raw.length !== expect.size)) {
      throw invalid('digest-mismatch', `manifest from the registry has digest ${digest} (${raw.length} bytes), not ${expect.digest}: refused`, `${formatFull(ref)}@${expect.digest}`);
    }
    if (ref.digest && reference === ref.digest && digest !== ref.digest) throw invalid('digest-mismatch', `manifest from the registry has digest ${digest}: refused`, spec);
    mkdirSync(join(dir, 'blobs', algorithmOf(digest)), { recursive: true });
    writeFileSync(join(dir, blobPath(digest)), raw);
    let json: { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    if (jsonDepth(raw) > MAX_JSON_DEPTH) throw invalid('limit-json-depth', `the manifest nests deeper than ${MAX_JSON_DEPTH} levels: refused`, `${formatFull(ref)}@${digest}`);
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw invalid('bad-manifest', 'the registry sent a manifest that is not JSON', `${formatFull(ref)}@${digest}`);
    }
    const mediaType = json.mediaType ?? res.header('content-type')?.split(';')[0] ?? MediaType.ociManifest;
    if (Array.isArray(json.manifests)) {
      for (const child of json.manifests) if (wanted(child.platform, opts.platform)) await fetchManifest(child.digest, child);
    } else {
      if (json.config) blobs.push(json.config);
      blobs.push(...(json.layers ?? []));
    }
    return { mediaType, digest, size: raw.length };
  };

  const root = await fetchManifest(ref.digest ?? ref.tag ?? 'latest');
  const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
  const total = unique.reduce((n, b) => n + b.size, 0);
  let done = 0;
  const progress = (n: number, current: string) => {
    done += n;
    opts.onProgress?.({ bytes: done, total, current });
  };
  await runPool(unique, CONCURRENT_BLOBS, async (b) => {
    const target = join(dir, blobPath(b.digest));
    mkdirSync(join(dir, 'blobs', algorithmOf(b.digest)), { recursive: true });
    if (existsSync(target)) return;
    const local = opts.localBlob?.(b.digest);
    if (local) {
      copyFileSync(local, target); // the store's blobs were checked when they were written
      progress(b.size, b.digest);
      return;
    }
    await downloadBlob(client, b, target, (n) => progress(n, b.digest), `${formatFull(ref)}@${b.digest}`);
  });
  const name = ref.tag !== undefined ? formatFull({ ...ref, digest: undefined }) : undefined;
  const desc: Descriptor = { ...root, ...(name ? { annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name } } : {}) };
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [desc] }));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return desc;
}

/** A manifest from a registry is JSON like any other: held to the same size limit (IMGPACK_MAX_JSON). */
async function readCapped(res: HttpResponse, limit: number, subject: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += (c as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw invalid('limit-json-size', `the registry sent a manifest larger than ${limit} bytes (IMGPACK_MAX_JSON): refused`, subject);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function wanted(p: Platform | undefined, want: Platform | undefined): boolean {
  if (!want || !p) return true;
  if (p.os === 'unknown' && p.architecture === 'unknown') return true; // attestations stay with their image
  return p.os === want.os && p.architecture === want.architecture && (!want.variant || p.variant === want.variant);
}

/**
 * One blob into `target`, hashed as it streams. A connection that breaks mid-blob is resumed
 * where the file on disk stops (Range), up to RESUMES times, and so is a `.part` an earlier run
 * left; the digest of a resumed download is then taken from the file, so that what is checked
 * is exactly what is kept.
 */
async function downloadBlob(client: RegistryClient, b: Descriptor, target: string, onBytes: (n: number) => void, subject: string): Promise<void> {
  const temp = `${target}.part`;
  const algorithm = algorithmOf(b.digest);
  const hash: Hash = createHash(algorithm);
  let failures = 0;
  let resumed = false;
  for (;;) {
    const have = existsSync(temp) ? statSync(temp).size : 0;
    const res = await client.get(`blobs/${b.digest}`, undefined, have > 0 ? { Range: `bytes=${have}-` } : undefined);
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
      }), createWriteStream(temp, { flags: append ? 'a' : 'w' }));
      break;
    } catch (e) {
      if (e instanceof ImgpackError) throw e;
      if (++failures > RESUMES) throw usage('registry-unreachable', `the download broke off after ${size} bytes, ${failures} times: ${(e as Error).message}`, subject);
    }
  }
  // The streamed hash saw only this attempt's bytes: after a resume or a failed attempt, the file.
  const actual = resumed || failures > 0
    ? (await digestStream(createReadStream(temp), { algorithms: [algorithm], subject })).stored[algorithm]
    : `${algorithm}:${hash.digest('hex')}`;
  const size = statSync(temp).size;
  if (actual !== b.digest || size !== b.size) {
    throw invalid('digest-mismatch', `blob from the registry has digest ${actual} (${size} bytes), not ${b.digest} (${b.size}): refused`, subject);
  }
  renameSync(temp, target);
}
