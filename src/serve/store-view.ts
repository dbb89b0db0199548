/**
 * What the served API reads from the store: the names of index.json as repositories and tags,
 * manifests by tag or digest, blob files. Read afresh for each request, so that loads, tags,
 * rmi and prune by other imgpack processes show at once.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { namesFromAnnotations } from '../formats/names.js';
import type { Store } from '../formats/store/store.js';
import { blobPath, digestProblem } from '../model/digest.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from '../model/media-types.js';
import type { Descriptor } from '../model/oci.js';
import { parseReference } from '../model/reference.js';
import { referrerDescriptor } from '../model/referrers.js';

/** Registries refuse manifests bigger than this (distribution: 4 MiB). */
export const MANIFEST_LIMIT = 4 << 20;

export interface NamedEntry {
  /** Full reference, `docker.io/library/nginx:1.25`. */
  name: string;
  repository: string;
  tag: string;
  descriptor: Descriptor;
}

export interface StoredManifest {
  raw: Buffer;
  mediaType: string;
  json: Record<string, unknown>;
}

export class StoreView {
  constructor(readonly store: Store) {}

  /** index.json's named entries; a later entry with the same name wins. */
  named(): NamedEntry[] {
    const byName = new Map<string, NamedEntry>();
    for (const d of this.store.readIndex().manifests) {
      for (const name of namesFromAnnotations(d.annotations).names) {
        const ref = parseReference(name);
        if (ref.tag === undefined) continue;
        byName.set(name, { name, repository: `${ref.domain}/${ref.path}`, tag: ref.tag, descriptor: d });
      }
    }
    return [...byName.values()];
  }

  repositories(): string[] {
    return [...new Set(this.named().map((e) => e.repository))];
  }

  tags(repository: string): string[] | undefined {
    const tags = this.named().filter((e) => e.repository === repository).map((e) => e.tag);
    return tags.length ? tags : undefined;
  }

  resolveTag(repository: string, tag: string): Descriptor | undefined {
    return this.named().find((e) => e.repository === repository && e.tag === tag)?.descriptor;
  }

  blobFile(digest: string): { path: string; size: number } | undefined {
    if (digestProblem(digest)) return undefined;
    const path = join(this.store.root, blobPath(digest));
    try {
      const st = statSync(path);
      return st.isFile() ? { path, size: st.size } : undefined;
    } catch {
      return undefined;
    }
  }

  /** The manifest or index stored under a digest, or undefined when the blob is not one. */
  manifest(digest: string): StoredManifest | undefined {
    const file = this.blobFile(digest);
    if (!file || file.size > MANIFEST_LIMIT) return undefined;
    let raw: Buffer;
    try {
      raw = readWhole(file.path);
    } catch {
      return undefined; // pruned meanwhile
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      return undefined;
    }
    const mediaType = manifestMediaType(json);
    return mediaType ? { raw, mediaType, json: json as Record<string, unknown> } : undefined;
  }

  /**
   * The manifests index.json reaches (its entries and the children of indexes) whose `subject` is
   * `digest`, as referrer descriptors. Read afresh on each call, like everything here.
   */
  referrers(digest: string): Descriptor[] {
    const found = new Map<string, Descriptor>();
    const seen = new Set<string>();
    const todo = this.store.readIndex().manifests.map((d) => d.digest);
    while (todo.length) {
      const d = todo.pop()!;
      if (seen.has(d)) continue;
      seen.add(d);
      const m = this.manifest(d);
      if (!m) continue;
      if (Array.isArray(m.json.manifests)) for (const c of m.json.manifests as Descriptor[]) todo.push(c.digest);
      if ((m.json.subject as Descriptor | undefined)?.digest === digest) found.set(d, referrerDescriptor(d, m.raw.length, m.mediaType, m.json));
    }
    return [...found.values()];
  }

  /** Every digest index.json reaches: its entries' closures. */
  reachable(): Set<string> {
    const all = new Set<string>();
    for (const d of this.store.readIndex().manifests) for (const x of this.closure(d.digest)) all.add(x);
    return all;
  }

  /**
   * The digests a manifest makes reachable (itself, config, layers, child manifests and theirs),
   * as far as the store has them. Bounded: each digest is visited once.
   */
  closure(digest: string): Set<string> {
    const seen = new Set<string>();
    const todo = [digest];
    while (todo.length) {
      const d = todo.pop()!;
      if (seen.has(d)) continue;
      seen.add(d);
      const m = this.manifest(d);
      if (!m) continue;
      for (const ref of referencedDescriptors(m.json)) {
        if (ref.kind === 'child') todo.push(ref.descriptor.digest);
        else seen.add(ref.descriptor.digest);
      }
    }
    return seen;
  }
}

/** A manifest's media type: its mediaType field, else what its shape says (OCI makes it optional). */
export function manifestMediaType(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const j = json as Record<string, unknown>;
  if (typeof j.mediaType === 'string') return isManifestMediaType(j.mediaType) || isIndexMediaType(j.mediaType) ? j.mediaType : undefined;
  if (Array.isArray(j.manifests)) return MediaType.ociIndex;
  if (typeof j.config === 'object' && j.config !== null && Array.isArray(j.layers)) return MediaType.ociManifest;
  return undefined;
}

/** The blobs (config, layers) and child manifests a manifest or index references. */
export function referencedDescriptors(json: Record<string, unknown>): { kind: 'blob' | 'child'; descriptor: Descriptor }[] {
  const out: { kind: 'blob' | 'child'; descriptor: Descriptor }[] = [];
  if (Array.isArray(json.manifests)) {
    for (const c of json.manifests as Descriptor[]) out.push({ kind: 'child', descriptor: c });
    return out;
  }
  if (json.config) out.push({ kind: 'blob', descriptor: json.config as Descriptor });
  for (const l of (Array.isArray(json.layers) ? json.layers : []) as Descriptor[]) out.push({ kind: 'blob', descriptor: l });
  return out;
}

function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}
