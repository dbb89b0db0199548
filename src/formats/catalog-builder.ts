/**
 * Accumulates what readers find into a Catalog: images merge by image ID (a hybrid's manifest.json
 * and index.json describe the same images; gzip and zstd variants of one image share its ID).
 */
import type { ArtifactRecord, BlobRef, Catalog, FormatName, ImageManifest, ImageRecord, IndexRecord, RootRecord } from '../model/catalog.js';
import { Findings } from '../model/catalog.js';
import type { DeltaMarker, OmittedBlob } from '../model/delta.js';
import type { Descriptor, ImageConfig, Platform } from '../model/oci.js';
import { platformOfConfig } from '../model/oci.js';

export class CatalogBuilder {
  readonly findings = new Findings();
  private readonly images = new Map<string, ImageRecord>();
  private readonly artifacts = new Map<string, ArtifactRecord>();
  private readonly indexes = new Map<string, IndexRecord>();
  readonly roots: RootRecord[] = [];
  private readonly blobs = new Map<string, BlobRef>();
  /** The delta marker, when the source is a delta: readers accept its omitted blobs as absent. */
  delta?: DeltaMarker;

  /** The omitted blob with this digest (OCI) or member path (docker-archive), if the source is a delta. */
  omitted(digestOrMember: string): OmittedBlob | undefined {
    return this.delta?.omitted.find((o) => o.digest === digestOrMember || o.member === digestOrMember);
  }

  image(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }

  addImage(config: { descriptor: Descriptor; raw: Buffer; json: ImageConfig }, manifest: ImageManifest | undefined, names: string[], refNames: string[], fallbackPlatform?: Platform): ImageRecord {
    const id = config.descriptor.digest;
    let rec = this.images.get(id);
    if (!rec) {
      rec = { id, config, manifests: [], repoTags: [], refNames: [], platform: platformOfConfig(config.json) ?? fallbackPlatform };
      this.images.set(id, rec);
    }
    if (manifest && !(manifest.digest && rec.manifests.some((m) => m.digest === manifest.digest))) rec.manifests.push(manifest);
    this.name(rec, names, refNames);
    return rec;
  }

  name(rec: ImageRecord, names: string[], refNames: string[]): void {
    for (const n of names) if (!rec.repoTags.includes(n)) rec.repoTags.push(n);
    for (const n of refNames) if (!rec.refNames.includes(n)) rec.refNames.push(n);
  }

  addArtifact(a: ArtifactRecord): void {
    if (!this.artifacts.has(a.digest)) this.artifacts.set(a.digest, a);
  }

  addIndex(i: IndexRecord): void {
    if (!this.indexes.has(i.digest)) this.indexes.set(i.digest, i);
  }

  /** Records a referenced, present blob. The same member with the same expectations counts once. */
  addBlob(ref: BlobRef): void {
    const key = `${ref.member}\0${ref.digest ?? ''}\0${ref.diffId ?? ''}\0${ref.size ?? ''}`;
    if (!this.blobs.has(key)) this.blobs.set(key, ref);
  }

  build(format: FormatName): Catalog {
    return {
      format,
      images: [...this.images.values()],
      artifacts: [...this.artifacts.values()],
      indexes: [...this.indexes.values()],
      roots: this.roots,
      blobs: [...this.blobs.values()],
      findings: this.findings,
      ...(this.delta ? { delta: this.delta } : {}),
    };
  }
}
