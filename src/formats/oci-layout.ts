/**
 * Reads an OCI image layout (a directory, or the same tree inside a tar): oci-layout, index.json,
 * and everything it reaches through nested indexes. Kinds are decided by content (media types
 * lie); a child of a nested index that is absent is a warning (containerd exports only the
 * platform it was asked for); artifacts (attestations, signatures, SBOMs) are kept apart.
 */
import type { FileTree } from '../io/file-tree.js';
import { cosignTagSubject, hasOnlyNonTarLayers } from '../model/referrers.js';
import { blobPath, digestOf, type Digest, algorithmOf } from '../model/digest.js';
import type { ImageManifest, LayerRecord } from '../model/catalog.js';
import {
  classifyJson, descriptorProblems, formatPlatform, imageConfigProblems, indexProblems, isImageConfigJson, isObject,
  isUnknownPlatform, manifestProblems, type Descriptor, type Index, type Manifest, type Platform,
} from '../model/oci.js';
import { isImageConfigMediaType, isIndexMediaType, isLayerMediaType, isManifestMediaType } from '../model/media-types.js';
import type { CatalogBuilder } from './catalog-builder.js';
import { namesFromAnnotations } from './names.js';
import { maxJsonBytes, readJsonMember } from './read-json.js';

interface VisitContext {
  names: string[];
  refNames: string[];
  /** The digest of the index that lists this descriptor, when it is not index.json. */
  parentIndex?: Digest;
  platform?: Platform;
  where: string;
  depth: number;
}

const MAX_INDEX_DEPTH = 16;

export async function readOciLayout(tree: FileTree, b: CatalogBuilder): Promise<void> {
  const f = b.findings;
  const layout = await readJsonMember(tree, 'oci-layout', f, { quietMissing: true });
  if (!layout.ok && layout.missing) f.warning('oci-layout-missing', 'the oci-layout file is missing', 'oci-layout');
  if (layout.ok && !(isObject(layout.json) && typeof layout.json.imageLayoutVersion === 'string')) {
    f.problem('bad-oci-layout', 'oci-layout has no imageLayoutVersion', 'oci-layout');
  }
  const idx = await readJsonMember(tree, 'index.json', f);
  if (!idx.ok) return;
  const json = idx.json;
  if (classifyJson(json) === 'manifest') {
    f.problem('bad-index', 'index.json is an image manifest, not an image index', 'index.json');
    return;
  }
  // Docker 25.0 wrote "manifests": null for a save without names: an empty index, not a broken one.
  if (isObject(json) && json.manifests === null) json.manifests = [];
  for (const p of indexProblems(json, 'index.json')) f.problem('bad-index', p, 'index.json');
  if (!isObject(json) || !Array.isArray(json.manifests)) return;
  const visitor = new Visitor(tree, b);
  const manifests = json.manifests as unknown[];
  for (let i = 0; i < manifests.length; i++) {
    const desc = manifests[i];
    const where = `index.json manifests[${i}]`;
    const shape = descriptorProblems(desc, where);
    if (shape.length) {
      for (const p of shape) f.problem('bad-descriptor', p, 'index.json');
      continue;
    }
    const d = desc as Descriptor;
    const { names, refNames } = namesFromAnnotations(d.annotations);
    b.roots.push({ descriptor: d, names, refNames });
    await visitor.visit(d, { names, refNames, where, depth: 0, platform: d.platform });
  }
}

class Visitor {
  /** What each manifest digest turned out to be, so a second path to it only adds names. */
  private readonly seen = new Map<Digest, { images: string[]; children: Descriptor[]; parent?: Digest }>();
  constructor(private readonly tree: FileTree, private readonly b: CatalogBuilder) {}

  async visit(d: Descriptor, ctx: VisitContext): Promise<void> {
    const f = this.b.findings;
    const known = this.seen.get(d.digest);
    if (known) {
      for (const id of known.images) {
        const rec = this.b.image(id);
        if (rec) this.b.name(rec, ctx.names, ctx.refNames);
      }
      if (ctx.depth < MAX_INDEX_DEPTH) for (const child of known.children) await this.visit(child, { ...ctx, parentIndex: d.digest, platform: child.platform, depth: ctx.depth + 1, where: `index ${d.digest}` });
      return;
    }
    const outcome = { images: [] as string[], children: [] as Descriptor[] };
    this.seen.set(d.digest, outcome);

    const member = blobPath(d.digest);
    const r = await this.tree.resolve(member);
    if (!r.ok) {
      if (r.reason === 'missing' && ctx.parentIndex) {
        f.warning('absent-child', `manifest for platform ${formatPlatform(d.platform)} is not in the archive (normal for a single-platform export)`, d.digest);
      } else if (r.reason === 'missing') {
        f.problem('missing-blob', `${ctx.where} references a blob that is missing (${d.mediaType})`, d.digest);
      } else {
        f.problem('bad-blob', `${member}: ${r.message}`, d.digest);
      }
      return;
    }
    const looksJson = isIndexMediaType(d.mediaType) || isManifestMediaType(d.mediaType) || r.file.size <= maxJsonBytes();
    if (!looksJson) {
      f.warning('unknown-media-type', `${ctx.where} references a blob of unknown kind (${d.mediaType}); it is kept as it is`, d.digest);
      this.b.addBlob({ member, digest: d.digest, size: d.size, kind: 'blob', subject: d.digest });
      return;
    }
    const read = await readJsonMember(this.tree, member, f, { subject: d.digest, what: `manifest ${member}`, quietMissing: true });
    if (!read.ok) return;
    this.checkBytes(d, read.raw, 'manifest');
    const kind = classifyJson(read.json);
    if (kind === 'index') {
      await this.visitIndex(d, read.raw, read.json as Index, ctx, outcome);
    } else if (kind === 'manifest') {
      await this.visitManifest(d, read.raw, read.json as Manifest, ctx, outcome);
    } else if (isIndexMediaType(d.mediaType) || isManifestMediaType(d.mediaType)) {
      f.problem('bad-manifest', `${member} is not an image manifest or index although its descriptor says ${d.mediaType}`, d.digest);
    } else {
      f.warning('unknown-media-type', `${ctx.where} references a blob of unknown kind (${d.mediaType}); it is kept as it is`, d.digest);
      this.b.addBlob({ member, digest: d.digest, size: d.size, kind: 'blob', subject: d.digest });
    }
  }

  /** Metadata blobs are read whole anyway, so their digest and size are checked here. */
  private checkBytes(d: Descriptor, raw: Buffer, what: string): boolean {
    const f = this.b.findings;
    let ok = true;
    if (raw.length !== d.size) {
      f.problem('size-mismatch', `${what} is ${raw.length} bytes but its descriptor says ${d.size}`, d.digest);
      ok = false;
    }
    const actual = digestOf(raw, algorithmOf(d.digest));
    if (actual !== d.digest) {
      f.problem('digest-mismatch', `${what} content has digest ${actual}`, d.digest);
      ok = false;
    }
    this.b.addBlob({ member: blobPath(d.digest), digest: d.digest, size: d.size, kind: what === 'config' ? 'config' : 'manifest', subject: d.digest });
    return ok;
  }

  private async visitIndex(d: Descriptor, raw: Buffer, json: Index, ctx: VisitContext, outcome: { children: Descriptor[] }): Promise<void> {
    const f = this.b.findings;
    for (const p of indexProblems(json, `index ${d.digest}`)) f.problem('bad-index', p, d.digest);
    if (!Array.isArray(json.manifests)) return;
    const children: { descriptor: Descriptor; present: boolean }[] = [];
    for (let i = 0; i < json.manifests.length; i++) {
      const child = json.manifests[i];
      if (descriptorProblems(child, '').length) continue; // reported by indexProblems
      children.push({ descriptor: child, present: this.tree.exists(blobPath(child.digest)) });
      outcome.children.push(child);
    }
    this.b.addIndex({ digest: d.digest, mediaType: json.mediaType ?? d.mediaType, raw, json, children });
    if (ctx.depth >= MAX_INDEX_DEPTH) {
      f.problem('limit-index-depth', `indexes are nested more than ${MAX_INDEX_DEPTH} deep`, d.digest);
      return;
    }
    for (const child of outcome.children) {
      await this.visit(child, { ...ctx, parentIndex: d.digest, platform: child.platform, depth: ctx.depth + 1, where: `index ${d.digest}` });
    }
  }

  private async visitManifest(d: Descriptor, raw: Buffer, json: Manifest, ctx: VisitContext, outcome: { images: string[] }): Promise<void> {
    const f = this.b.findings;
    const shape = manifestProblems(json, `manifest ${d.digest}`);
    for (const p of shape) f.problem('bad-manifest', p, d.digest);
    if (shape.length) return;
    const configDesc = json.config;
    const configMember = blobPath(configDesc.digest);
    const cfg = await readJsonMember(this.tree, configMember, f, { subject: configDesc.digest, what: `config ${configMember}`, quietMissing: true });
    const configMissing = !cfg.ok && cfg.missing;
    if (cfg.ok) this.checkBytes(configDesc, cfg.raw, 'config');
    const attestation = d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
    const unknownPlatform = isUnknownPlatform(ctx.platform) || (cfg.ok && isObject(cfg.json) && cfg.json.os === 'unknown' && cfg.json.architecture === 'unknown');
    const cosign = [...ctx.names, ...ctx.refNames].map(cosignTagSubject).find((c) => c !== undefined);
    const isImage = !attestation && !unknownPlatform && !json.subject && !cosign && !hasOnlyNonTarLayers(json.layers) && (
      cfg.ok ? isImageConfigJson(cfg.json) : isImageConfigMediaType(configDesc.mediaType));

    if (!isImage) {
      if (configMissing && configDesc.size > 0 && !isEmptyConfig(configDesc)) f.problem('missing-blob', `artifact ${d.digest} references a config blob that is missing`, configDesc.digest);
      this.addLayerBlobs(json.layers, undefined, d.digest);
      this.b.addArtifact({
        digest: d.digest, mediaType: json.mediaType ?? d.mediaType, artifactType: json.artifactType ?? d.artifactType ?? (isImageConfigMediaType(configDesc.mediaType) ? undefined : configDesc.mediaType),
        raw, json, platform: ctx.platform, size: d.size,
        refersTo: json.subject?.digest ?? d.annotations?.['vnd.docker.reference.digest'] ?? cosign?.subject,
        kind: attestation ? 'attestation' : cosign ? cosign.kind : json.subject ? 'referrer' : 'artifact',
      });
      return;
    }
    if (configMissing) {
      f.problem('missing-blob', `config of image manifest ${d.digest} is missing`, configDesc.digest);
      this.addLayerBlobs(json.layers, undefined, d.digest);
      return;
    }
    if (!cfg.ok) return;
    const configProblems = imageConfigProblems(cfg.json, `config ${configDesc.digest}`);
    for (const p of configProblems) f.problem('bad-config', p, configDesc.digest);
    if (configProblems.length) return;
    const config = cfg.json as import('../model/oci.js').ImageConfig;
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== json.layers.length) {
      f.problem('layer-count', `manifest has ${json.layers.length} layers but its config lists ${diffIds.length} diff_ids`, d.digest);
    }
    const layers: LayerRecord[] = json.layers.map((l, i) => ({ descriptor: l, diffId: diffIds[i] }));
    this.addLayerBlobs(json.layers, diffIds, d.digest);
    const manifest: ImageManifest = { digest: d.digest, mediaType: json.mediaType ?? d.mediaType, raw, json, layers, platform: ctx.platform };
    const rec = this.b.addImage({ descriptor: configDesc, raw: cfg.raw, json: config }, manifest, ctx.names, ctx.refNames, ctx.platform);
    outcome.images.push(rec.id);
  }

  private addLayerBlobs(layers: Descriptor[], diffIds: Digest[] | undefined, manifest: Digest): void {
    const f = this.b.findings;
    layers.forEach((l, i) => {
      const member = blobPath(l.digest);
      if (!this.tree.exists(member)) {
        if (this.b.omitted(l.digest)) return; // left out of a delta on purpose: the other side has it
        if (l.urls?.length && l.mediaType.includes('nondistributable') || l.mediaType.includes('foreign')) {
          f.warning('foreign-layer', `foreign layer is not in the archive (it is fetched from ${l.urls?.[0] ?? 'its URL'})`, l.digest);
        } else if (isEmptyConfig(l)) {
          // The empty descriptor's bytes ({}) may be omitted by some writers.
        } else {
          f.problem('missing-blob', `${isLayerMediaType(l.mediaType) ? 'layer' : 'blob'} ${i} of manifest ${manifest} is missing`, l.digest);
        }
        return;
      }
      this.b.addBlob({ member, digest: l.digest, size: l.size, diffId: diffIds?.[i], kind: isLayerMediaType(l.mediaType) || diffIds ? 'layer' : 'blob', subject: l.digest });
    });
  }
}

function isEmptyConfig(d: Descriptor): boolean {
  return d.digest === 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' && d.size === 2;
}
