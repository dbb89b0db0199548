/**
 * How signatures, attestations and SBOMs name the image they belong to. Two conventions exist:
 * OCI 1.1 referrers carry a `subject` descriptor; cosign's older tag scheme stores them under a
 * tag derived from the image's manifest digest (`sha256-<hex>.sig`, `.att`, `.sbom`), and the
 * OCI 1.1 fallback for registries without the referrers API is an index tagged `sha256-<hex>`.
 * Readers use these to attach such artifacts to their image, whatever the source.
 */
import type { Digest } from './digest.js';
import { isLayerMediaType } from './media-types.js';
import type { Descriptor } from './oci.js';

export type CosignTagKind = 'signature' | 'attestation' | 'sbom';

const COSIGN_SUFFIX: Record<string, CosignTagKind> = { sig: 'signature', att: 'attestation', sbom: 'sbom' };
const DIGEST_TAG = /^(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})(?:\.([a-z]+))?$/;

/** The tag part of a reference (`repo:TAG` or a bare tag), without any `@digest`. */
function tagOf(name: string): string {
  const noDigest = name.split('@')[0];
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(colon + 1) : noDigest;
}

/** `sha256-<hex>.sig` (and .att, .sbom): the subject's digest and what the tag holds. */
export function cosignTagSubject(name: string): { subject: Digest; kind: CosignTagKind } | undefined {
  const m = DIGEST_TAG.exec(tagOf(name));
  if (!m || !m[3] || !COSIGN_SUFFIX[m[3]]) return undefined;
  const [, algorithm, hex] = m;
  if ((algorithm === 'sha256') !== (hex.length === 64)) return undefined;
  return { subject: `${algorithm}:${hex}`, kind: COSIGN_SUFFIX[m[3]] };
}

/** `sha256-<hex>`: the OCI 1.1 referrers fallback tag of a subject (an index of its referrers). */
export function referrersFallbackTagSubject(name: string): Digest | undefined {
  const m = DIGEST_TAG.exec(tagOf(name));
  if (!m || m[3]) return undefined;
  if ((m[1] === 'sha256') !== (m[2].length === 64)) return undefined;
  return `${m[1]}:${m[2]}`;
}

/** The tags cosign gives a subject's signature, attestation and SBOM. */
export function cosignTags(subject: Digest): Record<CosignTagKind, string> {
  const base = subject.replace(':', '-');
  return { signature: `${base}.sig`, attestation: `${base}.att`, sbom: `${base}.sbom` };
}

/** The OCI 1.1 fallback tag under which a registry without the referrers API lists a subject's referrers. */
export function referrersFallbackTag(subject: Digest): string {
  return subject.replace(':', '-');
}

/**
 * A manifest whose layers are all something other than file-system tars (cosign's
 * simple-signing payloads, DSSE envelopes, SBOM documents) is an artifact even when its config
 * looks like an image config, as cosign's does (`rootfs` with the payloads' digests, empty os).
 */
export function hasOnlyNonTarLayers(layers: Descriptor[] | undefined): boolean {
  return Array.isArray(layers) && layers.length > 0 && layers.every((l) => typeof l.mediaType === 'string' && !isLayerMediaType(l.mediaType));
}

/** A referrer's descriptor as the spec lists it: artifactType (else the config's media type) and annotations. */
export function referrerDescriptor(digest: string, size: number, mediaType: string, json: Record<string, unknown>): Descriptor {
  const config = json.config as Descriptor | undefined;
  const artifactType = typeof json.artifactType === 'string' ? json.artifactType : config?.mediaType;
  const annotations = json.annotations as Record<string, string> | undefined;
  return { mediaType, digest, size, ...(artifactType ? { artifactType } : {}), ...(annotations && Object.keys(annotations).length ? { annotations } : {}) };
}
