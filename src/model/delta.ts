/**
 * Inventories and delta bundles, as plain data.
 *
 * An inventory (`imgpack inventory -o have.json`) lists what the receiving side already holds:
 * blob digests (as stored: compressed layers by their compressed digest), the layers' diffIDs
 * and chainIDs. A delta bundle leaves out the layer blobs the inventory lists and says so in a
 * marker file, `imgpack-delta.json`, at the root of the archive or layout: which inventory it was
 * cut against (the sha256 of the inventory file's bytes) and every blob left out, with the
 * member path it would have had. Readers accept exactly those blobs as absent.
 */
import { invalid } from '../errors.js';
import { digestProblem, type Digest } from './digest.js';

export const INVENTORY_KIND = 'imgpack-inventory';
export const DELTA_MARKER = 'imgpack-delta.json';

export interface Inventory {
  kind: typeof INVENTORY_KIND;
  version: 1;
  imgpackVersion: string;
  created: string;
  /** What was inventoried, as given on the command line. */
  sources: string[];
  /** The images seen, for people reading the file. */
  images: { id: Digest; names: string[] }[];
  /** Every blob present: manifests, indexes, configs, layers (as stored), artifact blobs. Sorted. */
  blobs: Digest[];
  /** Uncompressed layer digests (config rootfs.diff_ids). Sorted. */
  diffIds: Digest[];
  /** moby's chain IDs of every layer stack position (what `docker load` looks up). Sorted. */
  chainIds: Digest[];
}

/** One blob a delta leaves out. */
export interface OmittedBlob {
  digest: Digest;
  size: number;
  mediaType: string;
  /** Where the blob would be in this archive (`blobs/sha256/<hex>`, or `<id>/layer.tar`). */
  member: string;
  /** The layer's chain ID (set for layers). */
  chainId?: Digest;
}

export interface DeltaMarker {
  kind: 'imgpack-delta';
  version: 1;
  /** `sha256:<hex>` of the inventory file the delta was cut against. */
  inventory: Digest;
  /** `blob`: left out what the inventory lists by blob digest; `chain`: by chain ID (docker engines). */
  match: 'blob' | 'chain';
  omitted: OmittedBlob[];
}

/** What the copy engine leaves out: blobs by digest, or layers by chain ID (--delta-docker). */
export interface Exclusion {
  inventory: Digest;
  match: 'blob' | 'chain';
  digests: Set<string>;
}

/** Checks an inventory document's shape; names the file at fault. */
export function parseInventory(raw: Buffer, file: string): Inventory {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalid('bad-inventory', 'the inventory is not valid JSON', file);
  }
  const inv = json as Partial<Inventory>;
  if (!inv || typeof inv !== 'object' || inv.kind !== INVENTORY_KIND) throw invalid('bad-inventory', `not an imgpack inventory (kind must be "${INVENTORY_KIND}")`, file);
  if (inv.version !== 1) throw invalid('bad-inventory', `inventory version ${String(inv.version)} is not supported (this imgpack reads version 1)`, file);
  for (const key of ['blobs', 'diffIds', 'chainIds'] as const) {
    const list = inv[key];
    if (!Array.isArray(list)) throw invalid('bad-inventory', `the inventory has no "${key}" list`, file);
    for (const d of list) {
      const p = digestProblem(d);
      if (p) throw invalid('bad-inventory', `${key}: ${p}`, file);
    }
  }
  return inv as Inventory;
}

/** Checks a delta marker read from an archive; problems are returned, not thrown. */
export function deltaMarkerProblem(json: unknown): string | undefined {
  const m = json as Partial<DeltaMarker>;
  if (!m || typeof m !== 'object' || m.kind !== 'imgpack-delta') return 'kind must be "imgpack-delta"';
  if (m.version !== 1) return `version ${String(m.version)} is not supported`;
  if (digestProblem(m.inventory)) return `inventory: ${digestProblem(m.inventory)}`;
  if (m.match !== 'blob' && m.match !== 'chain') return 'match must be "blob" or "chain"';
  if (!Array.isArray(m.omitted)) return 'omitted must be a list';
  for (const o of m.omitted) {
    if (!o || typeof o !== 'object' || digestProblem(o.digest) || typeof o.size !== 'number' || typeof o.member !== 'string' || typeof o.mediaType !== 'string') return 'an omitted entry needs digest, size, mediaType and member';
  }
  return undefined;
}
