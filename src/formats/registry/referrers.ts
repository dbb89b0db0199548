/**
 * What is attached to a manifest in a registry: its OCI 1.1 referrers (the referrers API
 * `GET /v2/<name>/referrers/<digest>`, or, where the registry has no such API, the index under
 * the fallback tag `sha256-<hex>`) and cosign's tags (`sha256-<hex>.sig`, `.att`, `.sbom`).
 *
 * Requests: one referrers request per manifest while the registry answers it (none once it has
 * said it has no API), and one tag list for the whole repository (cosign's tags and the fallback
 * tags are looked up in it instead of probing three tags per manifest). The caller asks for the
 * manifests of one level at once, so that the latency is one round trip per level.
 */
import { throwIfCancelled } from '../../io/cancel.js';
import { MediaType } from '../../model/media-types.js';
import type { Descriptor } from '../../model/oci.js';
import { cosignTags, referrersFallbackTag, type CosignTagKind } from '../../model/referrers.js';
import { formatFull } from '../../model/reference.js';
import { maxJsonBytes } from '../read-json.js';
import type { RegistryClient } from './client.js';
import { readCapped } from './read-capped.js';
import { listTagsOf } from './tags.js';

export interface AttachedManifest {
  /** By digest (an OCI referrer) or by tag (cosign's scheme). */
  reference: string;
  /** The descriptor a referrers listing gave (digest, size, artifactType), when it gave one. */
  descriptor?: Descriptor;
  /** cosign's tag, which the copy keeps as the artifact's name. */
  cosignTag?: string;
  kind: CosignTagKind | 'referrer';
}

export class AttachedFinder {
  private apiAbsent = false;
  private tags?: Promise<Set<string>>;
  /** Requests made, for the round-trip measurement. */
  requests = 0;

  constructor(private readonly client: RegistryClient) {}

  /** Everything attached to `digest`, each once. */
  async find(digest: string): Promise<AttachedManifest[]> {
    const found = new Map<string, AttachedManifest>();
    // Both at once: one round trip of latency, not two.
    const [referrers, tags] = await Promise.all([this.referrers(digest), this.tagList()]);
    for (const d of referrers) found.set(d.digest, { reference: d.digest, descriptor: d, kind: 'referrer' });
    for (const [kind, tag] of Object.entries(cosignTags(digest)) as [CosignTagKind, string][]) {
      if (tags.has(tag)) found.set(tag, { reference: tag, cosignTag: tag, kind });
    }
    return [...found.values()];
  }

  /** The referrers API's answer, else the fallback tag's index, else nothing. */
  private async referrers(digest: string): Promise<Descriptor[]> {
    if (!this.apiAbsent) {
      this.requests++;
      const res = await this.client.request('GET', `referrers/${digest}`, { accept: MediaType.ociIndex, ok: [400, 404, 405, 406] });
      const type = res.header('content-type')?.split(';')[0].trim();
      if (res.status === 200 && type === MediaType.ociIndex) return manifestsOf(await readCapped(res, maxJsonBytes(), `${formatFull(this.client.ref)}@${digest}`));
      await res.discard();
      this.apiAbsent = true; // distribution 2.8 and other registries of before OCI 1.1
    }
    const fallback = referrersFallbackTag(digest);
    if (!(await this.tagList()).has(fallback)) return [];
    this.requests++;
    const res = await this.client.request('GET', `manifests/${fallback}`, { accept: MediaType.ociIndex, ok: [404] });
    if (res.status === 404) {
      await res.discard();
      return [];
    }
    return manifestsOf(await readCapped(res, maxJsonBytes(), `${formatFull(this.client.ref)}:${fallback}`));
  }

  private tagList(): Promise<Set<string>> {
    this.tags ??= (async () => {
      this.requests++;
      return new Set(await listTagsOf(this.client).catch(() => {
        throwIfCancelled();
        return [] as string[]; // a registry that lists no tags hides none of the above
      }));
    })();
    return this.tags;
  }
}

function manifestsOf(raw: Buffer): Descriptor[] {
  try {
    const json = JSON.parse(raw.toString('utf8')) as { manifests?: unknown };
    return Array.isArray(json.manifests) ? (json.manifests as Descriptor[]).filter((d) => typeof d?.digest === 'string' && typeof d?.size === 'number') : [];
  } catch {
    return []; // an unreadable listing attaches nothing; the image itself is unaffected
  }
}

/**
 * Whether an attached manifest is of one of the asked types: its artifactType, its config's media
 * type, or one of its layers' (cosign's signatures are `application/vnd.dev.cosign.simplesigning.v1+json`
 * layers, its attestations `application/vnd.dsse.envelope.v1+json`).
 */
export function attachedTypeMatches(json: { artifactType?: string; config?: Descriptor; layers?: Descriptor[] }, types: string[] | undefined): boolean {
  if (!types?.length) return true;
  const own = [json.artifactType, json.config?.mediaType, ...(json.layers ?? []).map((l) => l.mediaType)];
  return own.some((t) => t !== undefined && types.includes(t));
}
