/**
 * The inventory of a registry: `docker://HOST/REPO:TAG` (one image), `docker://HOST/REPO` (every
 * tag) or `docker://HOST` (every repository the registry's catalog lists). Only manifests and
 * configs are fetched: a registry that serves a manifest holds every blob it references.
 */
import { usage } from '../errors.js';
import { MANIFEST_ACCEPT, RegistryClient } from '../formats/registry/client.js';
import { digestOf, type Digest } from '../model/digest.js';
import type { Descriptor } from '../model/oci.js';
import { formatFull, parseReference, parseReferenceOrThrow, type Reference } from '../model/reference.js';
import type { InventoryPart } from './inventory.js';

const MAX_REPOSITORIES = 10_000;
const MAX_TAGS = 10_000;

export async function inventoryOfRegistry(spec: string): Promise<InventoryPart> {
  const rest = spec.slice('docker://'.length).replace(/\/+$/, '');
  if (!rest) throw usage('bad-reference', 'name a registry: docker://HOST[/REPO[:TAG]]', spec);
  const part: InventoryPart = { spec, images: [], blobs: [] };
  const blobs = new Set<Digest>();
  if (!rest.includes('/')) {
    for (const repo of await listRepositories(rest)) await inventoryOfRepository(parseReference(`${rest}/${repo}`, { defaultTag: false }), part, blobs);
  } else {
    const ref = parseReferenceOrThrow(rest);
    const explicit = /[:@][^/]*$/.test(rest);
    await inventoryOfRepository(explicit ? ref : { ...ref, tag: undefined }, part, blobs);
  }
  part.blobs = [...blobs];
  return part;
}

async function listRepositories(host: string): Promise<string[]> {
  const client = new RegistryClient(parseReference(`${host}/catalog-probe`, { defaultTag: false }));
  await client.ping(); // settles https or loopback http before an absolute URL is used
  const res = await client.request('GET', client.resolveLocation(`/v2/_catalog?n=${MAX_REPOSITORIES}`), { absolute: true });
  const body = (await res.json()) as { repositories?: string[] };
  return (body.repositories ?? []).slice(0, MAX_REPOSITORIES);
}

async function inventoryOfRepository(ref: Reference, part: InventoryPart, blobs: Set<Digest>): Promise<void> {
  const client = new RegistryClient(ref);
  let tags: string[];
  if (ref.tag !== undefined || ref.digest) {
    tags = [ref.digest ?? ref.tag!];
  } else {
    const res = await client.get(`tags/list?n=${MAX_TAGS}`);
    tags = (((await res.json()) as { tags?: string[] | null }).tags ?? []).slice(0, MAX_TAGS);
  }
  for (const tag of tags) {
    const name = tag.includes(':') ? undefined : formatFull({ ...ref, tag, digest: undefined });
    await visitManifest(client, tag, name, part, blobs, 0);
  }
}

async function visitManifest(client: RegistryClient, reference: string, name: string | undefined, part: InventoryPart, blobs: Set<Digest>, depth: number): Promise<void> {
  const res = await client.get(`manifests/${reference}`, MANIFEST_ACCEPT);
  const raw = await res.buffer();
  blobs.add(digestOf(raw));
  const json = JSON.parse(raw.toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  if (Array.isArray(json.manifests)) {
    if (depth >= 16) return;
    for (const child of json.manifests) await visitManifest(client, child.digest, name, part, blobs, depth + 1);
    return;
  }
  if (!json.config) return;
  blobs.add(json.config.digest);
  for (const l of json.layers ?? []) blobs.add(l.digest);
  const cfg = await client.get(`blobs/${json.config.digest}`);
  const config = (await cfg.json().catch(() => ({}))) as { rootfs?: { diff_ids?: Digest[] } };
  if (Array.isArray(config.rootfs?.diff_ids)) part.images.push({ id: json.config.digest, names: name ? [name] : [], diffIds: config.rootfs.diff_ids });
}
