/**
 * Opening a SOURCE: the input is turned into a FileTree, its format is recognised by content
 * (never by file name), and the readers build its Catalog. An ArchiveSource then serves blobs by
 * member name, by byte range, without reading the rest of the archive.
 */
import type { Readable } from 'node:stream';
import { fromSystemError, invalid } from '../errors.js';
import { DirTree } from '../io/file-tree.js';
import { rmSync } from 'node:fs';
import { pullFolder } from './registry/pull-cache.js';
import type { PullOptions, SharedDownloads } from './registry/pull.js';
import { isStoreSpec, Store, STORE_SPEC } from './store/store.js';
import type { Compression } from '../io/compression.js';
import type { FileTree } from '../io/file-tree.js';
import { openInput, truncationOf } from '../io/open-input.js';
import type { Catalog, FormatName } from '../model/catalog.js';
import type { Platform } from '../model/oci.js';
import { blobPath, type Digest } from '../model/digest.js';
import { CatalogBuilder } from './catalog-builder.js';
import { readDockerManifest } from './docker-archive.js';
import { readOciLayout } from './oci-layout.js';
import { readJsonMember } from './read-json.js';
import { DELTA_MARKER, deltaMarkerProblem, type DeltaMarker } from '../model/delta.js';

export class ArchiveSource {
  constructor(
    readonly display: string,
    readonly tree: FileTree,
    readonly compression: Compression,
    readonly catalog: Catalog,
    /** Runs when the work with this source succeeded (a finished pull's download folder goes). */
    private readonly onDone?: () => void,
  ) {}

  get format(): FormatName {
    return this.catalog.format;
  }

  /** Opens the bytes of a member (a blob path or a docker-archive path), or a byte range of it. */
  async openMember(member: string, start?: number, end?: number): Promise<Readable> {
    const r = await this.tree.resolve(member);
    if (!r.ok) throw invalid('missing-blob', `${member}: ${r.message}`, this.display);
    return this.tree.openRange(r.file, start, end);
  }

  async openBlob(digest: Digest): Promise<Readable> {
    return this.openMember(this.memberOf(digest));
  }

  private byDigest?: Map<Digest, string>;

  /** Where the bytes of a digest live: blobs/<alg>/<hex>, or a docker-archive path. */
  memberOf(digest: Digest): string {
    // A map, not a scan of the blob list: the copy engine asks once per layer, and an archive
    // with 100k layers made that quadratic (a minute for one convert).
    if (!this.byDigest) {
      this.byDigest = new Map();
      for (const b of this.catalog.blobs) {
        // A blob answers to its stored digest or, when that is unknown (an uncompressed docker
        // layer), to its diffID; the first in list order wins, as the scan did.
        const key = b.digest ?? b.diffId;
        if (key && !this.byDigest.has(key)) this.byDigest.set(key, b.member);
      }
    }
    return this.byDigest.get(digest) ?? blobPath(digest);
  }

  /** `failed`: the work with the source did not finish, so what is worth keeping stays. */
  async close(failed = false): Promise<void> {
    await this.tree.close();
    if (!failed) this.onDone?.();
  }
}

export type DetectedLayout = 'docker-archive' | 'hybrid' | 'oci' | 'legacy' | 'none';

export function detectLayout(tree: FileTree): DetectedLayout {
  const hasManifestJson = tree.exists('manifest.json');
  const hasOci = tree.exists('index.json') || tree.exists('oci-layout');
  if (hasManifestJson && hasOci) return 'hybrid';
  if (hasManifestJson) return 'docker-archive';
  if (hasOci) return 'oci';
  if (tree.exists('repositories') && tree.names().some((n) => /^[0-9a-f]{64}\/json$/.test(n))) return 'legacy';
  return 'none';
}

export interface OpenOptions {
  /** docker:// sources: fetch only this platform of a multi-platform index. */
  platform?: Platform;
  /** docker:// sources: only these platforms (a set entry's). */
  platforms?: Platform[];
  /** docker:// sources: downloads shared with the other images of a set run. */
  shared?: SharedDownloads;
  /** docker:// sources: stops the pull. */
  signal?: AbortSignal;
  /** docker:// sources: download progress. */
  onProgress?: PullOptions['onProgress'];
  /** docker:// sources: the referrers that come along (default: all). */
  referrers?: PullOptions['referrers'];
}

export async function openSource(spec: string, opts: OpenOptions = {}): Promise<ArchiveSource> {
  if (isStoreSpec(spec)) return openStore();
  if (spec.startsWith('docker://')) return openRegistry(spec, opts);
  const input = await openInput(spec);
  try {
    // A cut copy is said to be one first: docker save writes manifest.json last, so nearly every
    // cut would otherwise look like the wrong file ("no manifest.json").
    const cut = truncationOf(input);
    if (cut) throw cut;
    // A safety limit hit while indexing leaves a partial index: say so, not "no manifest.json".
    const limit = input.tree.problems.find((p) => p.code === 'tar-limit-members');
    if (limit) throw invalid(limit.code, limit.message, input.display);
    const layout = detectLayout(input.tree);
    if (layout === 'none') {
      throw truncationOf(input, 'there is no manifest.json, index.json or oci-layout') ?? invalid('not-an-archive', 'not an image archive: no manifest.json, index.json or oci-layout', input.display);
    }
    if (layout === 'legacy') {
      // docker <= 24 writes `<id>/json` and `repositories` too, manifest.json last but one.
      const cut = truncationOf(input, 'there is no manifest.json');
      if (cut) throw cut;
      throw invalid('legacy-format', 'docker save archive from Docker <= 1.9 (no manifest.json): this format is too old to read; load it into an old docker engine and save it again', input.display);
    }
    const b = new CatalogBuilder();
    // Damaged parity volumes do not stop a read; they are warnings here, and verify's problems.
    for (const p of input.volumeProblems ?? []) b.findings.warning(p.code, p.message, p.subject);
    const noEnd = input.tree.problems.find((p) => p.code === 'tar-no-end');
    for (const p of input.tree.problems) {
      if (p === noEnd) continue;
      if (p.severity === 'error') b.findings.problem(p.code, p.message, p.subject);
      else b.findings.warning(p.code, p.message, p.subject);
    }
    await readDeltaMarker(input.tree, b);
    if (layout === 'oci' || layout === 'hybrid') await readOciLayout(input.tree, b);
    if (layout === 'docker-archive' || layout === 'hybrid') await readDockerManifest(input.tree, b);
    const format: FormatName = layout === 'hybrid' ? 'hybrid' : layout === 'docker-archive' ? 'docker-archive' : input.tree.kind === 'dir' ? 'oci-layout' : 'oci-archive';
    const catalog = b.build(format);
    if (noEnd) {
      // Without its end blocks, an archive that lacks members it names, or names no image, was
      // cut; one that lacks nothing was written by a tool that omits them (no writer measured
      // does, for a whole archive; umoci does for layers).
      const missing = catalog.findings.problems.filter((p) => p.code === 'missing' || p.code === 'missing-blob');
      if (missing.length) throw truncationOf(input, `${missing.length} member${missing.length === 1 ? '' : 's'} it names ${missing.length === 1 ? 'is' : 'are'} missing (${missing[0].message})`)!;
      // docker 25 lists an untagged save's image in manifest.json only, after index.json.
      if (catalog.images.length === 0 && catalog.artifacts.length === 0) throw truncationOf(input, 'what is there names no image')!;
      catalog.findings.warning(noEnd.code, `${noEnd.message}: a tool that omits them wrote it, or it was cut short after member ${noEnd.end?.after}; every member it names is there`, noEnd.subject);
    }
    return new ArchiveSource(input.display, input.tree, input.compression, catalog);
  } catch (e) {
    await input.tree.close();
    throw e;
  }
}

/** The local store as a source: an OCI layout directory, reported as format `store`. */
async function openStore(): Promise<ArchiveSource> {
  const store = Store.openExisting();
  const tree = await DirTree.open(store.root).catch((e) => { throw fromSystemError(e, store.root); });
  const b = new CatalogBuilder();
  await readOciLayout(tree, b);
  return new ArchiveSource(STORE_SPEC, tree, 'none', b.build('store'));
}

/**
 * `docker://REF`: pulled (every blob checked) into an OCI layout, then read as one. The layout is
 * a download folder that outlives an interrupted run (pull-cache.ts): a rerun fetches only what
 * is missing, resuming a cut blob where it stopped; it goes when the work succeeds.
 */
async function openRegistry(spec: string, opts: OpenOptions): Promise<ArchiveSource> {
  const dir = pullFolder(spec, [...(opts.platform ? [opts.platform] : []), ...(opts.platforms ?? [])]);
  const { pullToLayout } = await import('./registry/pull.js'); // the registry code loads only when used
  // Blobs the local store has (checked when they were written) are not downloaded again.
  const store = Store.existing();
  await pullToLayout(spec.slice('docker://'.length), dir, { ...opts, localBlob: store && ((d) => store.blobFile(d)) });
  const tree = await DirTree.open(dir);
  const b = new CatalogBuilder();
  await readOciLayout(tree, b);
  return new ArchiveSource(spec, tree, 'none', b.build('oci-layout'), () => rmSync(dir, { recursive: true, force: true }));
}

/** `imgpack-delta.json` marks a delta bundle; a malformed one is a problem, and nothing is excused. */
async function readDeltaMarker(tree: FileTree, b: CatalogBuilder): Promise<void> {
  if (!tree.exists(DELTA_MARKER)) return;
  const r = await readJsonMember(tree, DELTA_MARKER, b.findings);
  if (!r.ok) return;
  const problem = deltaMarkerProblem(r.json);
  if (problem) {
    b.findings.problem('bad-delta-marker', `${DELTA_MARKER}: ${problem}`, DELTA_MARKER);
    return;
  }
  b.delta = r.json as DeltaMarker;
}
