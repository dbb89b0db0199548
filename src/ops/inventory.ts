/**
 * `inventory`: what a side of the gap already holds, as an Inventory (model/delta.ts): every blob
 * digest present, every layer's diffID and chain ID. Sources are archives, layouts, the store, or
 * registry repositories (read through manifests and configs only: no layer is downloaded).
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fromSystemError } from '../errors.js';
import type { ArchiveSource } from '../formats/source.js';
import { chainIds, type Digest } from '../model/digest.js';
import { INVENTORY_KIND, parseInventory, type Exclusion, type Inventory } from '../model/delta.js';
import { VERSION } from '../version.js';

/** What one source contributes; registries produce the same shape without an ArchiveSource. */
export interface InventoryPart {
  spec: string;
  images: { id: Digest; names: string[]; diffIds: Digest[] }[];
  blobs: Digest[];
}

/** The blobs a source actually holds (a delta's left-out blobs are not held), with its images. */
export function inventoryOfSource(source: ArchiveSource): InventoryPart {
  const cat = source.catalog;
  const blobs = new Set<Digest>();
  const add = (d: Digest | undefined) => {
    if (d && source.tree.exists(source.memberOf(d))) blobs.add(d);
  };
  for (const r of cat.roots) add(r.descriptor?.digest);
  for (const i of cat.indexes) add(i.digest);
  for (const img of cat.images) {
    blobs.add(img.id); // the config was read, so it is there (a docker-archive names it <hex>.json)
    for (const m of img.manifests) {
      add(m.digest);
      for (const l of m.layers) add(l.descriptor.digest);
    }
  }
  for (const a of cat.artifacts) {
    add(a.digest);
    add(a.json.config?.digest);
    for (const l of a.json.layers ?? []) add(l.digest);
  }
  return {
    spec: source.display,
    images: cat.images.map((i) => ({ id: i.id, names: i.repoTags, diffIds: i.config.json.rootfs.diff_ids })),
    blobs: [...blobs],
  };
}

export function buildInventory(parts: InventoryPart[]): Inventory {
  const blobs = new Set<Digest>();
  const diffIds = new Set<Digest>();
  const chains = new Set<Digest>();
  const images = new Map<Digest, Set<string>>();
  for (const p of parts) {
    for (const b of p.blobs) blobs.add(b);
    for (const img of p.images) {
      for (const d of img.diffIds) diffIds.add(d);
      for (const c of chainIds(img.diffIds)) chains.add(c);
      const names = images.get(img.id) ?? new Set<string>();
      for (const n of img.names) names.add(n);
      images.set(img.id, names);
    }
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return {
    kind: INVENTORY_KIND, version: 1, imgpackVersion: VERSION, created: new Date().toISOString(),
    sources: parts.map((p) => p.spec),
    images: [...images].map(([id, names]) => ({ id, names: sorted(names) })).sort((a, b) => a.id.localeCompare(b.id)),
    blobs: sorted(blobs), diffIds: sorted(diffIds), chainIds: sorted(chains),
  };
}

/** One digest per line: small diffs between weekly inventories, easy to read. */
export function serializeInventory(inv: Inventory): Buffer {
  return Buffer.from(JSON.stringify(inv, null, 1) + '\n');
}

/**
 * Reads `--exclude-from FILE` into what the copy engine leaves out. `chain` matches layers by
 * chain ID, as a docker engine (moby's graph drivers) finds the layers it has.
 */
export function readExclusion(file: string, match: 'blob' | 'chain' = 'blob'): Exclusion {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    throw fromSystemError(e, file);
  }
  const inv = parseInventory(raw, file);
  return {
    inventory: `sha256:${createHash('sha256').update(raw).digest('hex')}`,
    match,
    digests: new Set(match === 'chain' ? inv.chainIds : inv.blobs),
  };
}
