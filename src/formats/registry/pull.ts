/**
 * Pulling from a registry into an OCI layout directory (spooled under $TMPDIR), every blob
 * checked against its digest and size while it streams; several blobs at once. The layout is
 * then a source like any other: `docker://REF` works wherever a SOURCE does.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalid } from '../../errors.js';
import { blobPath, digestOf, algorithmOf } from '../../model/digest.js';
import { MediaType } from '../../model/media-types.js';
import type { Descriptor, Platform } from '../../model/oci.js';
import { formatFull, parseReferenceOrThrow } from '../../model/reference.js';
import { runPool } from '../../ops/pool.js';
import { MANIFEST_ACCEPT, RegistryClient } from './client.js';

export interface PullOptions {
  platform?: Platform;
  plainHttp?: boolean;
}

export async function pullToLayout(spec: string, dir: string, opts: PullOptions = {}): Promise<Descriptor> {
  const ref = parseReferenceOrThrow(spec);
  const client = new RegistryClient(ref, opts);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const blobs: Descriptor[] = [];

  const fetchManifest = async (reference: string, expect?: Descriptor): Promise<Descriptor> => {
    const res = await client.get(`manifests/${reference}`, MANIFEST_ACCEPT);
    const raw = Buffer.from(await res.arrayBuffer());
    const digest = digestOf(raw, expect ? algorithmOf(expect.digest) : 'sha256');
    if (expect && (digest !== expect.digest || raw.length !== expect.size)) {
      throw invalid('digest-mismatch', `manifest from the registry has digest ${digest} (${raw.length} bytes), not ${expect.digest}`, `${formatFull(ref)}@${expect.digest}`);
    }
    if (ref.digest && reference === ref.digest && digest !== ref.digest) throw invalid('digest-mismatch', `manifest has digest ${digest}`, spec);
    writeFileSync(join(dir, blobPath(digest)), raw);
    const json = JSON.parse(raw.toString('utf8'));
    const mediaType = json.mediaType ?? res.headers.get('content-type')?.split(';')[0] ?? MediaType.ociManifest;
    if (Array.isArray(json.manifests)) {
      for (const child of json.manifests as Descriptor[]) {
        const p = child.platform;
        const wanted = !opts.platform || !p || (p.os === opts.platform.os && p.architecture === opts.platform.architecture && (!opts.platform.variant || p.variant === opts.platform.variant)) || (p.os === 'unknown' && p.architecture === 'unknown');
        if (wanted) await fetchManifest(child.digest, child);
      }
    } else {
      blobs.push(json.config, ...(json.layers ?? []));
    }
    return { mediaType, digest, size: raw.length };
  };

  const root = await fetchManifest(ref.digest ?? ref.tag ?? 'latest');
  const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
  await runPool(unique, 4, async (b) => {
    const target = join(dir, blobPath(b.digest));
    if (existsSync(target)) return;
    const res = await client.get(`blobs/${b.digest}`);
    const hash = createHash(algorithmOf(b.digest));
    let size = 0;
    const temp = `${target}.part`;
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), new Transform({
      transform(chunk: Buffer, _e, cb) {
        size += chunk.length;
        hash.update(chunk);
        cb(null, chunk);
      },
    }), createWriteStream(temp));
    const actual = `${algorithmOf(b.digest)}:${hash.digest('hex')}`;
    if (actual !== b.digest || size !== b.size) {
      throw invalid('digest-mismatch', `blob from the registry has digest ${actual} (${size} bytes), not ${b.digest} (${b.size}): refused`, `${formatFull(ref)}@${b.digest}`);
    }
    renameSync(temp, target);
  });
  const name = ref.tag !== undefined ? formatFull({ ...ref, digest: undefined }) : undefined;
  const desc: Descriptor = { ...root, ...(name ? { annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name } } : {}) };
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [desc] }));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return desc;
}
