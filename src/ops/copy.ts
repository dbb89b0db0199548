/**
 * THE copy engine. Every operation that writes an archive hands it a plan (roots of sources,
 * with names) and a sink (an output format). It writes each blob once (dedup by digest), checks
 * every blob's digest and size while it streams (a corrupt input stops the copy and no output
 * appears), recompresses layers when the policy says so (diffIDs never change, manifests that
 * change are reported), and writes the metadata the sink's format needs.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromSystemError, invalid, sizeMismatch } from '../errors.js';
import { decompress, MAGIC_LENGTH, sniffCompression, type Compression } from '../io/compression.js';
import { registerTemp, spoolDir } from '../io/temp.js';
import { cancelSignal } from '../io/cancel.js';
import { VerifyingStream } from '../io/verifying-stream.js';
import { CodecPool } from '../io/workers.js';
import { DEFAULT_LEVEL, parallelCompressor } from '../io/parallel-compress.js';
import type { CheckResult } from '../io/codecs.js';
import type { ArchiveSource } from '../formats/source.js';
import type { DockerEntry, FileRange, Sink } from '../formats/sinks/sink.js';
import type { ArtifactRecord, ImageManifest, ImageRecord, IndexRecord, LayerRecord } from '../model/catalog.js';
import { algorithmOf, chainIds, type Digest } from '../model/digest.js';
import type { DeltaMarker, Exclusion, OmittedBlob } from '../model/delta.js';
import { Annotation, type Descriptor, type Manifest, type Platform } from '../model/oci.js';
import { layerMediaType, MediaType, type LayerCompression } from '../model/media-types.js';
import { familiarName } from '../model/reference.js';
import { dockerImageOf, estimateSize, type Plan, type PlanNode, type PlanRoot } from './plan.js';

export type LayerPolicy = 'auto' | 'keep' | 'gzip' | 'zstd' | 'uncompressed';

export interface CopyOptions {
  layers?: LayerPolicy;
  /** zstd level of layers written as zstd (1-19; default 3, as `zstd` itself). */
  zstdLevel?: number;
  /**
   * The codec workers to check and compress with (shared with an outer compressor); by default
   * the copy starts its own when the plan is big enough to be worth it.
   */
  pool?: CodecPool;
  platform?: Platform;
  onProgress?: (e: CopyProgress) => void;
  /** Cut a delta: leave out the blobs an inventory lists, and mark the output as a delta. */
  exclude?: Exclusion;
  /**
   * Where the blobs a delta source leaves out are taken from (apply: the base). Without one, a
   * left-out blob can only go to a sink that already has it (the store, a registry).
   */
  fill?: ArchiveSource[];
  /** Each distinct blob as it is written or left out (for the transfer manifest's blob list). */
  onBlob?: (b: { digest: Digest; size: number; omitted: boolean }) => void;
}

export interface CopyProgress {
  /** Bytes of blobs written so far (deduplicated ones are not written). */
  bytes: number;
  current: string;
}

export interface CopyReport {
  images: number;
  blobsWritten: number;
  bytesWritten: number;
  /** Bytes that were not written again because another image already had the blob. */
  bytesDeduplicated: number;
  changedManifests: { from: Digest; to: Digest; reason: string }[];
  /** Where the output holds one image per name: which platform each name got. */
  platformChoices: { name: string; image: Digest; platform: string }[];
  /** A delta: the blobs left out because the inventory lists them, and their bytes. */
  blobsOmitted?: number;
  bytesOmitted?: number;
  /** What the output's readers should know (each said once), e.g. zstd layers docker 20.10 cannot read. */
  warnings: string[];
}

interface EmittedImage {
  config: { descriptor: Descriptor; path: string };
  layers: { descriptor: Descriptor; path: string }[];
  changed: boolean;
}

const hex = (d: string) => d.slice(d.indexOf(':') + 1);

export async function copy(plan: Plan, sink: Sink, opts: CopyOptions = {}): Promise<CopyReport> {
  const engine = new CopyEngine(sink, opts);
  try {
    return await engine.run(plan);
  } catch (e) {
    await sink.abort();
    throw e;
  } finally {
    engine.cleanup();
  }
}

class CopyEngine {
  private readonly report: CopyReport = { images: 0, blobsWritten: 0, bytesWritten: 0, bytesDeduplicated: 0, changedManifests: [], platformChoices: [], warnings: [] };
  private readonly written = new Set<string>();
  private readonly images = new Map<string, EmittedImage>();
  private readonly manifests = new Map<string, Descriptor>();
  private readonly layerCache = new Map<string, { descriptor: Descriptor; path: string }>();
  private readonly temps: (() => void)[] = [];
  private readonly omitted = new Map<string, OmittedBlob>();
  /** Bytes that went through openVerified, for progress. */
  private streamed = 0;
  private pool?: CodecPool;
  private ownPool = false;
  private planned = 0;
  /**
   * Checks of blobs already copied, finishing in the codec workers while the copy goes on: every
   * one is settled before the sink commits (nothing a sink writes is visible before), and the
   * first failure stops the copy at the next blob.
   */
  private readonly trailing: Promise<void>[] = [];
  private failure?: unknown;
  /** What each compressed layer blob written decompressed to (its diffID), as checked. */
  private readonly contentOf = new Map<string, Promise<string | undefined>>();

  constructor(private readonly sink: Sink, private readonly opts: CopyOptions) {}

  cleanup(): void {
    for (const t of this.temps) t();
    if (this.ownPool) void this.pool?.close();
  }

  async run(plan: Plan): Promise<CopyReport> {
    this.planned = estimateSize(plan);
    this.pool = this.opts.pool;
    if (!this.pool) {
      this.pool = CodecPool.forWork(this.planned);
      this.ownPool = true;
    }
    const index: Descriptor[] = [];
    const docker: DockerEntry[] = [];
    const dockerByImage = new Map<string, DockerEntry>();
    const artifacts = plan.roots.filter((r) => r.node.kind === 'artifact').length;
    if (artifacts && !this.sink.writesManifests) {
      // docker-archive: manifest.json lists images only; there is nowhere to put them.
      this.warn(`${artifacts} signature${artifacts === 1 ? '' : 's'}, attestation${artifacts === 1 ? '' : 's'} or SBOM${artifacts === 1 ? '' : 's'} left out: a docker-archive cannot hold them (write oci-archive, hybrid or an OCI layout to keep them)`);
    }
    for (const root of plan.roots) {
      if (this.sink.writesManifests) {
        const desc = await this.emitNode(root.source, root.node);
        if (desc) index.push(...descriptorsForNames(desc, root.names));
      }
      if (this.sink.writesDockerManifest) {
        const image = dockerImageOf(root, this.opts.platform);
        if (!image) continue;
        if (root.node.kind === 'index') {
          for (const name of root.names) this.report.platformChoices.push({ name, image: image.id, platform: platformString(image.platform) });
        }
        const emitted = await this.emitImage(root.source, image, manifestFor(root, image));
        let entry = dockerByImage.get(image.id);
        if (!entry) {
          entry = { config: emitted.config.path, repoTags: null, layers: emitted.layers.map((l) => l.path), topLayerId: topLayerId(this.sink.format, emitted) };
          dockerByImage.set(image.id, entry);
          docker.push(entry);
        }
        for (const n of root.names) {
          if (n.includes('@')) continue; // docker rejects digest references in RepoTags
          entry.repoTags = [...(entry.repoTags ?? []), familiarName(n)].filter((v, i, a) => a.indexOf(v) === i);
        }
      }
    }
    this.report.images = new Set([...this.images.keys()]).size;
    const ex = this.opts.exclude;
    const delta: DeltaMarker | undefined = ex ? { kind: 'imgpack-delta', version: 1, inventory: ex.inventory, match: ex.match, omitted: [...this.omitted.values()] } : undefined;
    await Promise.all(this.trailing);
    if (this.failure) throw this.failure;
    await this.sink.commit({ index, docker, delta });
    return this.report;
  }

  private async emitNode(source: ArchiveSource, node: PlanNode): Promise<Descriptor | undefined> {
    if (node.kind === 'manifest') return this.emitManifest(source, node.image, node.manifest);
    if (node.kind === 'index') return this.emitIndex(source, node.index, node.keep);
    const artifact = source.catalog.artifacts.find((a) => a.digest === node.descriptor.digest);
    return artifact ? this.emitArtifact(source, artifact) : undefined;
  }

  /** Config and layers of one image, each written once; the layer policy may recompress. */
  private async emitImage(source: ArchiveSource, image: ImageRecord, manifest: ImageManifest): Promise<EmittedImage> {
    const key = `${source.display}\0${image.id}\0${manifest.digest ?? ''}`;
    const cached = this.images.get(key);
    if (cached) return cached;
    const diffIds = manifest.layers.map((l) => l.diffId ?? l.descriptor.digest);
    const chain = chainIds(diffIds);
    const layers: EmittedImage['layers'] = [];
    let changed = false;
    for (let i = 0; i < manifest.layers.length; i++) {
      const out = await this.emitLayer(source, manifest.layers[i], chain[i], chain[i - 1], !manifest.digest);
      if (out.descriptor.digest !== manifest.layers[i].descriptor.digest || out.descriptor.mediaType !== manifest.layers[i].descriptor.mediaType) changed = true;
      layers.push(out);
    }
    const configDesc = { ...image.config.descriptor };
    const configPath = await this.put({ digest: image.id, size: image.config.raw.length, mediaType: configDesc.mediaType, role: 'config' }, () => image.config.raw);
    const emitted = { config: { descriptor: configDesc, path: configPath }, layers, changed };
    this.images.set(key, emitted);
    return emitted;
  }

  private async emitManifest(source: ArchiveSource, image: ImageRecord, manifest: ImageManifest): Promise<Descriptor> {
    const key = `${source.display}\0${manifest.digest ?? image.id}`;
    const done = this.manifests.get(key);
    if (done) return done;
    const emitted = await this.emitImage(source, image, manifest);
    let raw: Buffer;
    let mediaType: string;
    if (manifest.raw && manifest.json && !emitted.changed) {
      raw = manifest.raw;
      mediaType = manifest.json.mediaType ?? manifest.mediaType;
    } else {
      // A docker-archive image has no manifest: we write the OCI manifest Docker 25+ would.
      // A recompressed one gets its layers replaced, in its own media-type family.
      const base: Manifest = manifest.json ?? { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: image.id, size: image.config.raw.length }, layers: [] };
      const json: Manifest = { ...base, mediaType: base.mediaType ?? MediaType.ociManifest, config: manifest.json ? base.config : { mediaType: MediaType.ociConfig, digest: image.id, size: image.config.raw.length }, layers: emitted.layers.map((l) => l.descriptor) };
      raw = Buffer.from(JSON.stringify(json));
      mediaType = json.mediaType!;
    }
    const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    if (manifest.digest && digest !== manifest.digest) {
      this.report.changedManifests.push({ from: manifest.digest, to: digest, reason: 'layers recompressed' });
    }
    await this.put({ digest, size: raw.length, mediaType, role: 'manifest' }, () => raw);
    const desc: Descriptor = { mediaType, digest, size: raw.length };
    this.manifests.set(key, desc);
    return desc;
  }

  private async emitIndex(source: ArchiveSource, index: IndexRecord, keep: Set<string> | undefined, depth = 0): Promise<Descriptor> {
    const children: Descriptor[] = [];
    let changed = false;
    const imageByManifest = new Map<string, ImageRecord>();
    for (const img of source.catalog.images) for (const m of img.manifests) if (m.digest) imageByManifest.set(m.digest, img);
    for (const { descriptor: child, present } of index.children) {
      const artifact = source.catalog.artifacts.find((a) => a.digest === child.digest);
      const nested = source.catalog.indexes.find((i) => i.digest === child.digest);
      const img = imageByManifest.get(child.digest);
      let out: Descriptor | undefined;
      if (!present) {
        out = undefined; // absent platforms are dropped: the output is complete in itself
      } else if (img) {
        if (!keep || keep.has(child.digest)) out = await this.emitManifest(source, img, img.manifests.find((m) => m.digest === child.digest)!);
      } else if (nested && depth < 16) {
        out = await this.emitIndex(source, nested, keep, depth + 1);
      } else if (artifact) {
        if (!keep || (artifact.refersTo && keep.has(artifact.refersTo))) out = await this.emitArtifact(source, artifact);
      }
      if (!out) {
        changed = true;
        continue;
      }
      if (out.digest !== child.digest) changed = true;
      children.push({ ...child, mediaType: out.mediaType, digest: out.digest, size: out.size });
    }
    let raw = index.raw;
    if (changed) raw = Buffer.from(JSON.stringify({ ...index.json, manifests: children }));
    const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    if (digest !== index.digest) this.report.changedManifests.push({ from: index.digest, to: digest, reason: keep ? 'platforms or images selected' : 'children changed or absent' });
    const mediaType = index.json.mediaType ?? index.mediaType;
    await this.put({ digest, size: raw.length, mediaType, role: 'index' }, () => raw);
    return { mediaType, digest, size: raw.length };
  }

  /** Artifacts (attestations, signatures, SBOMs) are copied byte for byte. */
  private async emitArtifact(source: ArchiveSource, a: ArtifactRecord): Promise<Descriptor> {
    const blobs = [a.json.config, ...(a.json.layers ?? [])];
    for (const b of blobs) {
      const at = this.locate(source, b.digest, `blobs/${b.digest.replace(':', '/')}`);
      if (!at && !source.catalog.delta?.omitted.some((o) => o.digest === b.digest)) continue; // e.g. the omitted empty config
      await this.put({ digest: b.digest, size: b.size, mediaType: b.mediaType, role: 'blob' }, () => this.openAt(at, source, b.digest, b.size));
    }
    await this.put({ digest: a.digest, size: a.raw.length, mediaType: a.mediaType, role: 'manifest' }, () => a.raw);
    return { mediaType: a.mediaType, digest: a.digest, size: a.raw.length, ...(a.artifactType ? { artifactType: a.artifactType } : {}) };
  }

  private async emitLayer(source: ArchiveSource, layer: LayerRecord, chainId: string, parent: string | undefined, synthesized: boolean): Promise<{ descriptor: Descriptor; path: string }> {
    const d = layer.descriptor;
    const at = this.locate(source, d.digest, source.memberOf(d.digest));
    // A blob a delta left out, with no base to take it from: only its media type says how it is stored.
    const from = at ? await this.compressionOf(at.source, at.member) : compressionOfMediaType(d.mediaType);
    const to = targetCompression(this.opts.layers ?? 'auto', from, this.sink.format);
    const key = `${source.display}\0${d.digest}\0${to}`;
    const cached = this.layerCache.get(key);
    if (cached) {
      this.report.bytesDeduplicated += cached.descriptor.size;
      return cached;
    }
    const family = d.mediaType.includes('docker') && !synthesized ? 'docker' : 'oci';
    if (to === 'zstd' && (this.sink.format === 'docker-archive' || this.sink.format === 'hybrid')) this.warnZstd();
    let result: { descriptor: Descriptor; path: string };
    if (to === from) {
      const descriptor = synthesized ? { mediaType: layerMediaType('oci', from), digest: d.digest, size: d.size } : d;
      // Load-ready or not written: an uncompressed layer's digest is its diffID; a compressed
      // one is decompressed beside the copy and its content hashed.
      // (A sha512 blob of an uncompressed layer is hashed with the diffID's sha256 too.)
      const sameAlgorithm = !layer.diffId || algorithmOf(layer.diffId) === algorithmOf(d.digest);
      if (from === 'none' && sameAlgorithm && layer.diffId && layer.diffId !== d.digest) {
        throw invalid('diffid-mismatch', `layer is uncompressed, so its digest ${d.digest} must equal the config's diff_id ${layer.diffId}: the input is corrupt`, `${source.display}: ${at?.member ?? d.digest}`);
      }
      const content = layer.diffId && (from !== 'none' || !sameAlgorithm) ? { coding: from, diffId: layer.diffId } : undefined;
      const path = await this.put({ digest: d.digest, size: d.size, mediaType: descriptor.mediaType, role: 'layer', chainId, parentChainId: parent }, () => this.openAt(at, source, d.digest, d.size, content));
      // The blob may have been written for another image (or source) whose config says another
      // diffID: what it decompressed to is compared with this image's claim too.
      const known = content && this.contentOf.get(d.digest);
      if (content && known) {
        const subject = `${source.display}: ${at?.member ?? d.digest}`;
        this.trail(known.then((c) => { if (c !== content.diffId) throw diffIdMismatch(c, content.diffId, subject); }));
      }
      result = { descriptor, path };
    } else {
      if (!at) throw missingFromDelta(source, d.digest);
      const t = await this.transcode(at.source, at.member, d, from, to, layer.diffId);
      const descriptor: Descriptor = { ...(synthesized ? {} : d), mediaType: layerMediaType(family, to), digest: t.digest, size: t.size };
      delete descriptor.annotations; // e.g. estargz TOC annotations no longer describe the new bytes
      if (d.annotations && !synthesized) descriptor.annotations = Object.fromEntries(Object.entries(d.annotations).filter(([k]) => !k.includes('stargz') && !k.includes('uncompressed')));
      if (descriptor.annotations && Object.keys(descriptor.annotations).length === 0) delete descriptor.annotations;
      const path = await this.put({ digest: t.digest, size: t.size, mediaType: descriptor.mediaType, role: 'layer', chainId, parentChainId: parent }, async () => createReadStream(t.path));
      result = { descriptor, path };
    }
    this.layerCache.set(key, result);
    return result;
  }

  private readonly compressionCache = new Map<string, LayerCompression | 'other'>();

  /**
   * Where a blob's bytes are: in the source, or, when the source is a delta that left it out, in
   * one of the fill sources (the base). Undefined when nobody has it.
   */
  private locate(source: ArchiveSource, digest: string, member: string): { source: ArchiveSource; member: string } | undefined {
    const omitted = source.catalog.delta?.omitted.find((o) => o.digest === digest);
    if (!omitted || source.tree.exists(member)) return { source, member };
    for (const base of this.opts.fill ?? []) {
      const m = base.memberOf(digest);
      if (base.tree.exists(m)) return { source: base, member: m };
    }
    return undefined;
  }

  private openAt(at: { source: ArchiveSource; member: string } | undefined, source: ArchiveSource, digest: string, size: number, content?: ContentToCheck): Promise<FileRange> {
    if (!at) throw missingFromDelta(source, digest);
    return this.openVerified(at.source, digest, size, at.member, content);
  }

  private warnZstd(): void {
    this.warn(`zstd layers in a ${this.sink.format}: docker 20.10 cannot load it ("invalid tar header"); docker 23 and later, containerd, podman and skopeo can (--layers gzip for every reader)`);
  }

  private warn(w: string): void {
    if (!this.report.warnings.includes(w)) this.report.warnings.push(w);
  }

  private async compressionOf(source: ArchiveSource, member: string): Promise<LayerCompression> {
    const key = `${source.display}\0${member}`;
    let c = this.compressionCache.get(key);
    if (!c) {
      const r = await source.tree.resolve(member);
      if (!r.ok) throw invalid('missing-blob', `${member}: ${r.message}`, source.display);
      const s = sniffCompression(await source.tree.head(r.file, MAGIC_LENGTH));
      c = s === 'none' || s === 'gzip' || s === 'zstd' ? s : 'other';
      this.compressionCache.set(key, c);
    }
    if (c === 'other') throw invalid('bad-layer', `${member}: layers compressed with xz or bzip2 cannot be written to an image archive`, source.display);
    return c;
  }

  /**
   * The blob's bytes as a file range whose digest and size (and, for a compressed layer, its
   * content's diffID) are checked as they pass, in a codec worker beside the copy.
   */
  private async openVerified(source: ArchiveSource, digest: string, size: number | undefined, member = source.memberOf(digest), content?: ContentToCheck): Promise<FileRange> {
    if (this.failure) throw this.failure;
    const r = await source.tree.resolve(member);
    if (!r.ok) throw invalid('missing-blob', `${member}: ${r.message}`, source.display);
    const subject = `${source.display}: ${member}`;
    if (size !== undefined && r.file.size !== size) throw invalid('size-mismatch', sizeMismatch('blob', r.file.size, size), subject);
    const algorithm = algorithmOf(digest);
    const plainDiffId = content?.coding === 'none' ? algorithmOf(content.diffId) : undefined;
    const algorithms = plainDiffId && plainDiffId !== algorithm ? [algorithm, plainDiffId] : [algorithm];
    const check = await this.pool!.check({ algorithms, content: content && content.coding !== 'none' ? content.coding : undefined }, r.file.size);
    return {
      kind: 'range', segments: source.tree.location(r.file), length: r.file.size,
      buffer: check.buffer,
      tap: (chunk) => {
        this.streamed += chunk.length;
        this.opts.onProgress?.({ bytes: this.streamed, current: member });
        return check.write(chunk);
      },
      done: () => {
        const result = check.end();
        if (content) this.contentOf.set(digest, result.then((res) => (content.coding === 'none' ? res.stored[algorithmOf(content.diffId)] : res.content)));
        this.trail(result.then((res) => judge(res, digest, algorithm, content, subject)));
      },
    };
  }

  /** A check that finishes beside the copy: settled before commit, its failure stops the copy. */
  private trail(verdict: Promise<void>): void {
    verdict.catch((e: unknown) => { this.failure ??= e; });
    this.trailing.push(verdict.catch(() => {}));
  }

  /** The same check as a stream, for recompression. */
  private async verifiedStream(source: ArchiveSource, digest: string, size: number | undefined, member: string): Promise<Readable> {
    const input = await source.openMember(member);
    const subject = `${source.display}: ${member}`;
    const check = new VerifyingStream(digest, size, subject);
    // A read error names the input, so that it is never mistaken for the output's.
    input.on('error', (e) => check.destroy(fromSystemError(e, subject)));
    return input.pipe(check);
  }

  /** Recompresses a layer into a temporary file, checking its digest and diffID on the way. */
  private async transcode(source: ArchiveSource, member: string, d: Descriptor, from: Compression, to: LayerCompression, diffId: string | undefined) {
    const path = join(spoolDir(), `layer-${randomBytes(6).toString('hex')}`);
    this.temps.push(registerTemp(path));
    const contentHash = createHash('sha256');
    const outHash = createHash('sha256');
    let size = 0;
    // Uncompressed, the content is the stored bytes, whose digest the verifying stream checks.
    const tapContent = from === 'none' ? new PassThrough() : new Transform({ transform(c, _e, cb) { contentHash.update(c); cb(null, c); } });
    const tapOut = new Transform({ transform(c: Buffer, _e, cb) { outHash.update(c); size += c.length; cb(null, c); } });
    const compressor = to === 'none' ? new PassThrough() : parallelCompressor({ codec: to, level: to === 'zstd' ? this.opts.zstdLevel ?? DEFAULT_LEVEL.zstd : DEFAULT_LEVEL.gzip, pool: this.compressionPool() });
    await pipeline(
      await this.verifiedStream(source, d.digest, d.size, member),
      (input: AsyncIterable<Buffer>) => decompress(Readable.from(input), from, `${source.display}: ${member}`),
      tapContent,
      compressor,
      tapOut,
      createWriteStream(path),
      { signal: cancelSignal },
    );
    const content = from === 'none' ? d.digest : `sha256:${contentHash.digest('hex')}`;
    if (diffId && content !== diffId) {
      throw invalid('diffid-mismatch', `layer content has digest ${content}, but the config's diff_id is ${diffId}: the input is corrupt`, `${source.display}: ${member}`);
    }
    return { path, digest: `sha256:${outHash.digest('hex')}`, size };
  }

  /** Compression is worth workers from a few MiB on (checks alone only from more). */
  private compressionPool(): CodecPool {
    if (this.pool!.size > 0) return this.pool!;
    if (this.ownPool && this.planned >= COMPRESSION_WORKERS_FROM) {
      void this.pool!.close();
      this.pool = CodecPool.forCompression();
    }
    return this.pool!;
  }

  private async put(info: Parameters<Sink['putBlob']>[0], open: Parameters<Sink['putBlob']>[1]): Promise<string> {
    if (this.failure) throw this.failure;
    const ex = this.opts.exclude;
    // Only layers and artifact blobs are left out: manifests and configs are small, and they are
    // what lets the receiver check everything else.
    const omit = !!ex && (info.role === 'layer' || info.role === 'blob') && (ex.match === 'chain' ? !!info.chainId && ex.digests.has(info.chainId) : ex.digests.has(info.digest));
    if (this.written.has(info.digest)) {
      this.report.bytesDeduplicated += info.size;
    } else {
      this.written.add(info.digest);
      if (omit) {
        this.report.blobsOmitted = (this.report.blobsOmitted ?? 0) + 1;
        this.report.bytesOmitted = (this.report.bytesOmitted ?? 0) + info.size;
      } else {
        this.report.blobsWritten++;
        this.report.bytesWritten += info.size;
      }
      this.opts.onBlob?.({ digest: info.digest, size: info.size, omitted: omit });
    }
    const path = await this.sink.putBlob({ ...info, omit }, open);
    if (omit && !this.omitted.has(info.digest)) {
      this.omitted.set(info.digest, { digest: info.digest, size: info.size, mediaType: info.mediaType, member: path, ...(info.chainId ? { chainId: info.chainId } : {}) });
    }
    return path;
  }
}

const COMPRESSION_WORKERS_FROM = 4 << 20;

interface ContentToCheck {
  /** 'none': an uncompressed layer whose blob digest uses another algorithm than its diffID. */
  coding: 'none' | 'gzip' | 'zstd';
  diffId: string;
}

/** Throws when what passed is not what the digest, and for a compressed layer the diffID, say. */
function judge(res: CheckResult, digest: string, algorithm: string, content: ContentToCheck | undefined, subject: string): void {
  const actual = res.stored[algorithm];
  if (actual !== digest) throw invalid('digest-mismatch', `blob content has digest ${actual}, not ${digest}: the input is corrupt`, subject);
  if (!content) return;
  if (content.coding === 'none') {
    const plain = res.stored[algorithmOf(content.diffId)];
    if (plain !== content.diffId) throw diffIdMismatch(plain, content.diffId, subject);
    return;
  }
  if (res.error) throw invalid('corrupt-compression', `layer cannot be decompressed: ${res.error}`, subject);
  if (res.content !== content.diffId) throw diffIdMismatch(res.content, content.diffId, subject);
}

function diffIdMismatch(actual: string | undefined, diffId: string, subject: string) {
  return invalid('diffid-mismatch', `layer content has digest ${actual}, but the config's diff_id is ${diffId}: docker load would reject it`, subject);
}

function missingFromDelta(source: ArchiveSource, digest: string) {
  const inv = source.catalog.delta?.inventory ?? '';
  return invalid('delta-missing-blob', `blob ${digest} was left out of this delta (cut against inventory ${inv.slice(0, 19)}...) and no base provides it`, source.display);
}

function compressionOfMediaType(mediaType: string): LayerCompression {
  return mediaType.endsWith('gzip') ? 'gzip' : mediaType.endsWith('zstd') ? 'zstd' : 'none';
}

/** zstd layers become gzip for docker-archive and hybrid outputs: docker 20.10 cannot read zstd. */
export function targetCompression(policy: LayerPolicy, from: LayerCompression, format: Sink['format']): LayerCompression {
  if (policy === 'keep') return from;
  if (policy === 'gzip') return 'gzip';
  if (policy === 'zstd') return 'zstd';
  if (policy === 'uncompressed') return 'none';
  return from === 'zstd' && (format === 'docker-archive' || format === 'hybrid') ? 'gzip' : from;
}

/** index.json: one descriptor per name, both annotations set to the full reference (CLI.md). */
function descriptorsForNames(desc: Descriptor, names: string[]): Descriptor[] {
  if (names.length === 0) return [desc];
  return names.map((n) => ({ ...desc, annotations: { [Annotation.containerdName]: n, [Annotation.refName]: n } }));
}

function manifestFor(root: PlanRoot, image: ImageRecord): ImageManifest {
  if (root.node.kind === 'manifest' && root.node.image === image) return root.node.manifest;
  return image.manifests[0];
}

function topLayerId(format: Sink['format'], emitted: EmittedImage): string | undefined {
  if (emitted.layers.length === 0) return undefined;
  const last = emitted.layers[emitted.layers.length - 1];
  // docker-archive: the folder of the top layer; hybrid: the top layer's blob, as Docker 25 writes.
  return format === 'docker-archive' ? last.path.split('/')[0] : hex(last.descriptor.digest);
}

function platformString(p: Platform | undefined): string {
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'unknown';
}

