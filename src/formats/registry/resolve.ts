/**
 * What a reference in a registry is, without fetching its layers: the tag list (paginated), the
 * manifest digest a tag points at now, and the platforms and bytes a pull of it would fetch.
 * Image sets resolve with this (tag filters, --dry-run, locks); pull.ts then fetches.
 */
import { invalid, usage } from '../../errors.js';
import { algorithmOf, digestOf } from '../../model/digest.js';
import { formatPlatform, isImageConfigJson, platformOfConfig, type Descriptor, type Platform } from '../../model/oci.js';
import { formatFull, parseReferenceOrThrow, repositoryOf } from '../../model/reference.js';
import { maxJsonBytes } from '../read-json.js';
import { MANIFEST_ACCEPT, RegistryClient } from './client.js';
import { fetchManifest, wantedPlatform } from './pull.js';
import { listTagsOf } from './tags.js';
import { readCapped } from './read-capped.js';

/** Far beyond any real repository; a registry that pages forever is stopped here. */

/** Every tag of a repository, following the registry's `Link: <...>; rel="next"` pages. */
export async function listTags(repository: string, pageSize = 1000): Promise<string[]> {
  return listTagsOf(new RegistryClient(parseReferenceOrThrow(repository)), pageSize);
}

export interface RemoteImage {
  /** The digest of what the reference points at: an index or an image manifest. */
  digest: string;
  mediaType: string;
  /** The image manifests a pull takes, with their platforms (attestations are not listed). */
  platforms: { platform: string; digest: string; size: number }[];
  /** Platforms asked for that the image does not have. */
  missing: string[];
  /** Bytes a pull fetches: manifests, configs and layers, each once. */
  size: number;
  /** The blobs (configs, layers) a pull fetches, with their sizes. */
  blobs: Map<string, number>;
}

/**
 * Resolves `spec` (a tag or a digest) for these platforms ('all': every one). An index keeps the
 * children of those platforms; none of them is an error. A single image is taken whatever its
 * platform unless `strict` (platforms named explicitly), as docker pull does.
 */
export async function resolveRemote(spec: string, want: Platform[] | 'all', strict: boolean): Promise<RemoteImage> {
  const ref = parseReferenceOrThrow(spec);
  const client = new RegistryClient(ref);
  const wanted = want === 'all' ? [] : want;
  const blobs = new Map<string, number>();
  const platforms: RemoteImage['platforms'] = [];
  let manifestBytes = 0;
  let single: { digest: string; config?: Descriptor; size: number } | undefined;
  /** `image`: for an image manifest, the bytes of the image (manifest, config, layers). */
  const visit = async (reference: string, expect: Descriptor | undefined, depth: number): Promise<{ digest: string; mediaType: string; image?: number }> => {
    const m = await fetchManifest(client, reference, expect);
    manifestBytes += m.raw.length;
    if (Array.isArray(m.json.manifests)) {
      if (depth > 4) throw invalid('bad-manifest', 'indexes nest more than 4 deep', `${formatFull(ref)}@${m.digest}`);
      for (const child of m.json.manifests) {
        if (!child || typeof child.digest !== 'string') throw invalid('bad-manifest', 'an index child has no digest', `${formatFull(ref)}@${m.digest}`);
        if (!wantedPlatform(child.platform, wanted)) continue;
        const got = await visit(child.digest, child, depth + 1);
        const attestation = child.platform?.os === 'unknown' && child.platform?.architecture === 'unknown';
        if (!attestation && got.image) platforms.push({ platform: formatPlatform(child.platform), digest: got.digest, size: got.image });
      }
      return { digest: m.digest, mediaType: m.mediaType };
    }
    const parts = [m.json.config, ...(m.json.layers ?? [])].filter((b): b is Descriptor => !!b?.digest);
    for (const b of parts) blobs.set(b.digest, b.size);
    const image = parts.reduce((n, b) => n + b.size, m.raw.length);
    if (depth === 0) single = { digest: m.digest, config: m.json.config, size: image };
    return { digest: m.digest, mediaType: m.mediaType, image };
  };
  const root = await visit(ref.digest ?? ref.tag ?? 'latest', undefined, 0);
  if (single) {
    // A single image: its platform is in its config.
    const platform = single.config ? await configPlatform(client, single.config) : undefined;
    if (strict && wanted.length && platform && !wantedPlatform(platform, wanted)) {
      throw invalid('no-such-platform', `the image is for ${formatPlatform(platform)} only, not ${wanted.map(formatPlatform).join(', ')}`, formatFull(ref));
    }
    platforms.push({ platform: platform ? formatPlatform(platform) : 'unknown', digest: single.digest, size: single.size });
  }
  if (platforms.length === 0) throw invalid('no-such-platform', `no image for ${wanted.map(formatPlatform).join(', ')} in the index`, formatFull(ref));
  const missing = single ? [] : wanted.map(formatPlatform).filter((w) => !platforms.some((p) => p.platform === w || p.platform.startsWith(`${w}/`)));
  const size = manifestBytes + [...blobs.values()].reduce((a, b) => a + b, 0);
  return { digest: root.digest, mediaType: root.mediaType, platforms, missing, size, blobs };
}

async function configPlatform(client: RegistryClient, config: Descriptor): Promise<Platform | undefined> {
  if (config.size > maxJsonBytes()) return undefined;
  const res = await client.get(`blobs/${config.digest}`);
  const raw = await readCapped(res, maxJsonBytes(), `${formatFull(client.ref)}@${config.digest}`);
  if (digestOf(raw, algorithmOf(config.digest)) !== config.digest) throw invalid('digest-mismatch', `config from the registry does not have digest ${config.digest}: refused`, formatFull(client.ref));
  try {
    const json = JSON.parse(raw.toString('utf8'));
    return isImageConfigJson(json) ? platformOfConfig(json) : undefined;
  } catch {
    return undefined; // not an image config: an artifact, whose platform is unknown
  }
}

/** The digest a tag points at now (HEAD), or undefined when the tag is gone. */
export async function currentDigest(spec: string): Promise<string | undefined> {
  const ref = parseReferenceOrThrow(spec);
  if (ref.tag === undefined) throw usage('usage', 'a tag is needed to ask what it points at', spec);
  const client = new RegistryClient(ref);
  const res = await client.request('HEAD', `manifests/${ref.tag}`, { accept: MANIFEST_ACCEPT, ok: [404] });
  await res.discard();
  if (res.status === 404) return undefined;
  const header = res.header('docker-content-digest');
  if (header) return header;
  return (await fetchManifest(client, ref.tag)).digest;
}
