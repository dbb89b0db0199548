/**
 * Reads a docker manifest.json (docker save of every version, skopeo/podman, kaniko/ggcr, Jib,
 * and the manifest.json half of a Docker 25+ or containerd hybrid). Keys are matched
 * case-insensitively as docker's loader does; member paths may be symlinks inside the archive.
 */
import { createHash } from 'node:crypto';
import type { FileTree, TreeFile } from '../io/file-tree.js';
import { sniffCompression, MAGIC_LENGTH } from '../io/compression.js';
import { nameProblem, normalizeMemberName } from '../io/tar-index.js';
import { digestOf, digestProblem, sha256Of, type Digest } from '../model/digest.js';
import type { ImageManifest, LayerRecord } from '../model/catalog.js';
import { imageConfigProblems, isObject, type ImageConfig } from '../model/oci.js';
import { MediaType, layerMediaType } from '../model/media-types.js';
import { formatFull, parseReference } from '../model/reference.js';
import type { CatalogBuilder } from './catalog-builder.js';
import { readJsonMember } from './read-json.js';

export async function readDockerManifest(tree: FileTree, b: CatalogBuilder): Promise<void> {
  const f = b.findings;
  const m = await readJsonMember(tree, 'manifest.json', f);
  if (!m.ok) return;
  if (!Array.isArray(m.json)) {
    f.problem('bad-manifest-json', `manifest.json must be a JSON array, not ${m.json === null ? 'null' : typeof m.json}`, 'manifest.json');
    return;
  }
  await readRepositories(tree, b);
  for (let i = 0; i < m.json.length; i++) await readEntry(tree, b, m.json[i], i);
}

function field(entry: Record<string, unknown>, key: string): unknown {
  const k = Object.keys(entry).find((x) => x.toLowerCase() === key.toLowerCase());
  return k === undefined ? undefined : entry[k];
}

async function readEntry(tree: FileTree, b: CatalogBuilder, entry: unknown, i: number): Promise<void> {
  const f = b.findings;
  const where = `manifest.json[${i}]`;
  if (!isObject(entry)) {
    f.problem('bad-manifest-json', `${where} is not an object`, 'manifest.json');
    return;
  }
  const configPath = field(entry, 'Config');
  const layerPaths = field(entry, 'Layers');
  const repoTags = field(entry, 'RepoTags');
  if (typeof configPath !== 'string' || configPath === '') {
    f.problem('bad-manifest-json', `${where} has no Config`, 'manifest.json');
    return;
  }
  if (!Array.isArray(layerPaths) || !layerPaths.every((p) => typeof p === 'string')) {
    f.problem('bad-manifest-json', `${where} Layers must be a list of paths`, 'manifest.json');
    return;
  }
  if (!safePath(configPath, where, b)) return;
  const cfg = await readJsonMember(tree, configPath, f, { subject: configPath, what: `config ${configPath}` });
  if (!cfg.ok) return;
  const claimed = claimedDigest(configPath);
  // A hybrid's config at blobs/sha512/<hex> is named by its sha512 (valid OCI): the image ID must
  // be that digest too, or the manifest.json half would not match its index.json half.
  const id = claimed?.startsWith('sha512:') ? digestOf(cfg.raw, 'sha512') : sha256Of(cfg.raw);
  if (claimed && claimed !== id) {
    f.problem('config-digest-mismatch', `config file name says ${claimed} but its content has digest ${id}`, configPath);
  }
  const configProblems = imageConfigProblems(cfg.json, `config ${configPath}`);
  for (const p of configProblems) f.problem('bad-config', p, configPath);
  if (configProblems.length) return;
  const config = cfg.json as ImageConfig;
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layerPaths.length) {
    f.problem('layer-count', `${where} lists ${layerPaths.length} layers but config ${configPath} has ${diffIds.length} diff_ids`, configPath);
  }
  const names = parseRepoTags(repoTags, where, b);
  const existing = b.image(id);
  const layers: LayerRecord[] = [];
  let unusable = false;
  for (let j = 0; j < layerPaths.length; j++) {
    const path = layerPaths[j] as string;
    if (!safePath(path, where, b)) {
      unusable = true;
      continue;
    }
    const r = await tree.resolve(path);
    const omitted = !r.ok && r.reason === 'missing' ? b.omitted(normalizeMemberName(path)) : undefined;
    if (omitted) {
      // Left out of a delta on purpose: the marker gives what the missing member would hold.
      layers.push({ descriptor: { mediaType: omitted.mediaType, digest: omitted.digest, size: omitted.size }, diffId: diffIds[j] });
      continue;
    }
    if (!r.ok) {
      f.problem(r.reason === 'missing' ? 'missing-layer' : r.reason === 'escapes' ? 'link-escapes' : r.reason === 'loop' ? 'link-loop' : 'bad-layer', `layer ${j} of ${where}: ${r.message}`, path);
      unusable = true;
      continue;
    }
    const diffId = diffIds[j];
    const compression = sniffCompression(await tree.head(r.file, MAGIC_LENGTH));
    // An uncompressed layer's blob digest is its diffID; a compressed one's is named or hashed.
    const digest = compression === 'none' && diffId ? diffId : claimedDigest(path) ?? (await hashFile(tree, r.file));
    layers.push({ descriptor: { mediaType: layerMediaType('docker', compression === 'none' || compression === 'gzip' || compression === 'zstd' ? compression : 'gzip'), digest, size: r.file.size }, diffId });
    b.addBlob({ member: path, digest: compression === 'none' ? undefined : digest, diffId, kind: 'layer', subject: path });
  }
  b.addBlob({ member: configPath, digest: id, kind: 'config', subject: configPath });
  // An image with a layer that is missing, unsafe or a link out of the archive is reported, not
  // kept: keeping it without that layer made convert write an image with fewer layers than its
  // config's diff_ids.
  if (unusable) return;
  const synthesized: ImageManifest = { mediaType: MediaType.dockerManifest, layers };
  const rec = b.addImage(
    { descriptor: { mediaType: MediaType.dockerConfig, digest: id, size: cfg.raw.length }, raw: cfg.raw, json: config },
    existing && existing.manifests.length > 0 ? undefined : synthesized,
    names, [],
  );
  rec.dockerPaths ??= { config: normalizeMemberName(configPath), layers: layerPaths.map((p) => normalizeMemberName(p as string)) };
  b.roots.push({ names, refNames: [], imageId: id });
}

function safePath(path: string, where: string, b: CatalogBuilder): boolean {
  const problem = nameProblem(path);
  if (problem) {
    b.findings.problem('unsafe-path', `${where}: ${problem.replace('member name', 'path')}`, path);
    return false;
  }
  return true;
}

function parseRepoTags(value: unknown, where: string, b: CatalogBuilder): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    b.findings.problem('bad-manifest-json', `${where} RepoTags must be a list`, 'manifest.json');
    return [];
  }
  const out: string[] = [];
  for (const tag of value) {
    if (typeof tag !== 'string') {
      b.findings.problem('bad-manifest-json', `${where} RepoTags has a non-string entry`, 'manifest.json');
      continue;
    }
    try {
      const ref = parseReference(tag);
      if (ref.digest) b.findings.warning('digest-repotag', `${where} RepoTags has a digest reference, which docker load rejects`, tag);
      const full = formatFull(ref);
      if (!out.includes(full)) out.push(full);
    } catch (e) {
      b.findings.problem('bad-reference', `${where} RepoTags entry is not a valid reference: ${(e as Error).message}`, tag);
    }
  }
  return out;
}

/** `repositories` is legacy and optional; docker ignores it when manifest.json exists. */
async function readRepositories(tree: FileTree, b: CatalogBuilder): Promise<void> {
  if (!tree.exists('repositories')) return;
  const r = await readJsonMember(tree, 'repositories', b.findings, { quietMissing: true });
  if (r.ok && !isObject(r.json)) b.findings.warning('bad-repositories', 'repositories is not a JSON object; it is ignored', 'repositories');
}

/**
 * The digest a member's name claims: `<hex>.json`, `<hex>.tar(.gz)`, `blobs/sha256/<hex>`,
 * `sha256:<hex>`. Verify checks every claim.
 */
export function claimedDigest(path: string): Digest | undefined {
  const name = normalizeMemberName(path);
  const blob = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(name);
  if (blob && !digestProblem(`${blob[1]}:${blob[2]}`)) return `${blob[1]}:${blob[2]}`;
  const base = name.slice(name.lastIndexOf('/') + 1);
  // `<hex>.tar` (skopeo, podman) names the diffID, not the stored bytes: it claims nothing here.
  const m = /^(?:sha256:)?([0-9a-f]{64})(?:\.json|\.tar\.gz|\.tgz)?$/.exec(base);
  if (m && !name.includes('/')) return `sha256:${m[1]}`;
  return undefined;
}

async function hashFile(tree: FileTree, file: TreeFile): Promise<Digest> {
  const h = createHash('sha256');
  for await (const chunk of tree.openRange(file)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}
