/**
 * Opening a SOURCE: the input is turned into a FileTree, its format is recognised by content
 * (never by file name), and the readers build its Catalog. An ArchiveSource then serves blobs by
 * member name, by byte range, without reading the rest of the archive.
 */
import type { Readable } from 'node:stream';
import { fromSystemError, invalid } from '../errors.js';
import { DirTree } from '../io/file-tree.js';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { spoolDir } from '../io/temp.js';
import { isStoreSpec, Store, STORE_SPEC } from './store/store.js';
import type { Compression } from '../io/compression.js';
import type { FileTree } from '../io/file-tree.js';
import { openInput } from '../io/open-input.js';
import type { Catalog, FormatName } from '../model/catalog.js';
import { blobPath, type Digest } from '../model/digest.js';
import { CatalogBuilder } from './catalog-builder.js';
import { readDockerManifest } from './docker-archive.js';
import { readOciLayout } from './oci-layout.js';

export class ArchiveSource {
  constructor(
    readonly display: string,
    readonly tree: FileTree,
    readonly compression: Compression,
    readonly catalog: Catalog,
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

  /** Where the bytes of a digest live: blobs/<alg>/<hex>, or a docker-archive path. */
  memberOf(digest: Digest): string {
    const ref = this.catalog.blobs.find((b) => b.digest === digest || (!b.digest && b.diffId === digest));
    return ref ? ref.member : blobPath(digest);
  }

  async close(): Promise<void> {
    await this.tree.close();
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

export async function openSource(spec: string): Promise<ArchiveSource> {
  if (isStoreSpec(spec)) return openStore();
  if (spec.startsWith('docker://')) return openRegistry(spec);
  const input = await openInput(spec);
  try {
    const layout = detectLayout(input.tree);
    if (layout === 'none') {
      throw invalid('not-an-archive', 'not an image archive: no manifest.json, index.json or oci-layout', input.display);
    }
    if (layout === 'legacy') {
      throw invalid('legacy-format', 'docker save archive from Docker <= 1.9 (no manifest.json): this format is too old to read; load it into an old docker engine and save it again', input.display);
    }
    const b = new CatalogBuilder();
    for (const p of input.tree.problems) {
      if (p.severity === 'error') b.findings.problem(p.code, p.message, p.subject);
      else b.findings.warning(p.code, p.message, p.subject);
    }
    if (layout === 'oci' || layout === 'hybrid') await readOciLayout(input.tree, b);
    if (layout === 'docker-archive' || layout === 'hybrid') await readDockerManifest(input.tree, b);
    const format: FormatName = layout === 'hybrid' ? 'hybrid' : layout === 'docker-archive' ? 'docker-archive' : input.tree.kind === 'dir' ? 'oci-layout' : 'oci-archive';
    return new ArchiveSource(input.display, input.tree, input.compression, b.build(format));
  } catch (e) {
    await input.tree.close();
    throw e;
  }
}

/** The local store as a source: an OCI layout directory, reported as format `store`. */
async function openStore(): Promise<ArchiveSource> {
  const store = Store.open();
  const tree = await DirTree.open(store.root).catch((e) => { throw fromSystemError(e, store.root); });
  const b = new CatalogBuilder();
  await readOciLayout(tree, b);
  return new ArchiveSource(STORE_SPEC, tree, 'none', b.build('store'));
}

/** `docker://REF`: pulled (every blob checked) into a spooled OCI layout, then read as one. */
async function openRegistry(spec: string): Promise<ArchiveSource> {
  const dir = mkdtempSync(join(spoolDir(), 'pull-'));
  const { pullToLayout } = await import('./registry/pull.js'); // the registry code loads only when used
  await pullToLayout(spec.slice('docker://'.length), dir);
  const tree = await DirTree.open(dir);
  const b = new CatalogBuilder();
  await readOciLayout(tree, b);
  return new ArchiveSource(spec, tree, 'none', b.build('oci-layout'));
}
