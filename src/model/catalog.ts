/**
 * What a source holds, as plain data: images (one per image ID = config digest), artifacts,
 * indexes, the named roots, and every blob that something references. Readers build it; inspect,
 * verify and the copy engine consume it. Raw manifest and config bytes are kept: digests are
 * over bytes, and we never re-serialise what we did not mean to change.
 */
import type { Digest } from './digest.js';
import type { DeltaMarker } from './delta.js';
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from './oci.js';

export type FormatName = 'docker-archive' | 'hybrid' | 'oci-archive' | 'oci-layout' | 'store';

export interface Problem {
  code: string;
  message: string;
  /** The file, member, digest or reference at fault. */
  subject: string;
}

export class Findings {
  readonly problems: Problem[] = [];
  readonly warnings: Problem[] = [];
  /** Keys of what was recorded: a set, not a scan, since a hostile archive can yield 100k problems. */
  private readonly seen = new Set<string>();
  problem(code: string, message: string, subject: string): void {
    if (this.first('p', code, message, subject)) this.problems.push({ code, message, subject });
  }
  warning(code: string, message: string, subject: string): void {
    if (this.first('w', code, message, subject)) this.warnings.push({ code, message, subject });
  }
  private first(kind: string, code: string, message: string, subject: string): boolean {
    const key = `${kind}\0${code}\0${subject}\0${message}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }
}

export interface LayerRecord {
  /** Digest, size and media type of the blob as stored (from the manifest, or derived for docker-archive). */
  descriptor: Descriptor;
  /** The config's rootfs.diff_ids entry for this position. */
  diffId?: Digest;
}

/** One way to reach an image: a manifest blob, or an entry of a docker manifest.json. */
export interface ImageManifest {
  /** Digest, bytes and parsed JSON of the manifest blob; absent for a docker manifest.json entry. */
  digest?: Digest;
  mediaType: string;
  raw?: Buffer;
  json?: Manifest;
  layers: LayerRecord[];
  /** The platform the referring index gives it, if any. */
  platform?: Platform;
}

export interface ImageRecord {
  id: Digest;
  config: { descriptor: Descriptor; raw: Buffer; json: ImageConfig };
  manifests: ImageManifest[];
  /** Full references, normalised as docker does. */
  repoTags: string[];
  /** Bare `org.opencontainers.image.ref.name` values (no repository). */
  refNames: string[];
  platform?: Platform;
  /** Member paths used by a docker manifest.json entry for this image (config, then layers). */
  dockerPaths?: { config: string; layers: string[] };
}

export interface ArtifactRecord {
  digest: Digest;
  mediaType: string;
  artifactType?: string;
  raw: Buffer;
  json: Manifest;
  platform?: Platform;
  /** The manifest it refers to (`subject`, or an attestation's `vnd.docker.reference.digest`). */
  refersTo?: Digest;
  kind: string;
  size: number;
}

export interface IndexRecord {
  digest: Digest;
  mediaType: string;
  raw: Buffer;
  json: Index;
  /** Children, with whether their blob is in this source. */
  children: { descriptor: Descriptor; present: boolean }[];
}

/** A named entry point: one descriptor of index.json, or one entry of manifest.json. */
export interface RootRecord {
  descriptor?: Descriptor;
  names: string[];
  refNames: string[];
  /** For docker manifest.json entries: the image ID. */
  imageId?: Digest;
}

/** Where a referenced blob's bytes are and what is expected of them. */
export interface BlobRef {
  member: string;
  /** Expected digest of the stored bytes; absent when only the diffID is known. */
  digest?: Digest;
  size?: number;
  /** Expected digest of the uncompressed content, for layers. */
  diffId?: Digest;
  kind: 'manifest' | 'index' | 'config' | 'layer' | 'blob';
  /** How problems name it. */
  subject: string;
}

export interface Catalog {
  format: FormatName;
  images: ImageRecord[];
  artifacts: ArtifactRecord[];
  indexes: IndexRecord[];
  roots: RootRecord[];
  /** Every blob something references and that is present, for verify and copying. */
  blobs: BlobRef[];
  findings: Findings;
  /** Set when the source is a delta bundle: the blobs it leaves out on purpose. */
  delta?: DeltaMarker;
}
