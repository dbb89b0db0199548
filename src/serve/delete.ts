/**
 * DELETE of manifests, tags and blobs, as distribution does it, over the store's index.json:
 * - a tag: the name goes; the manifest stays, by digest, as an unnamed entry (a registry keeps
 *   untagged manifests until they are deleted by digest or collected);
 * - a manifest by digest: every entry of that digest goes (all its names), then the manifest
 *   blob itself when nothing else reaches it, so that a GET by digest answers 404. Its config
 *   and layers stay until `imgpack prune`, as a registry's blobs stay until garbage collection;
 *   a manifest that is only a child of an index is refused (delete the index);
 * - a blob: removed when nothing index.json reaches uses it and no load or push holds it;
 *   refused (405, UNSUPPORTED) while a manifest uses it, instead of breaking that manifest.
 * Every change happens under the store's lock, as the store's other writers.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { namesFromAnnotations } from '../formats/names.js';
import { blobPath, digestProblem } from '../model/digest.js';
import type { Descriptor } from '../model/oci.js';
import { SIZE_ANNOTATION } from '../ops/store-ops.js';
import { blobUnknown, manifestUnknown, RegistryError, unsupported } from './errors.js';
import type { Holds } from './holds.js';
import { send, type Res } from './http-util.js';
import type { StoreView } from './store-view.js';

export class DeleteHandlers {
  constructor(private readonly view: StoreView, private readonly holds: Holds) {}

  /** DELETE /v2/<name>/manifests/<tag|digest> */
  async deleteManifest(res: Res, repository: string, reference: string): Promise<void> {
    const store = this.view.store;
    if (!reference.includes(':')) {
      const name = `${repository}:${reference}`;
      await store.updateIndex((current) => {
        const entry = current.find((d) => namesFromAnnotations(d.annotations).names.includes(name));
        if (!entry) throw manifestUnknown(reference);
        const others = current.filter((d) => d !== entry);
        // Still findable by digest: unnamed, unless another entry keeps it already.
        return others.some((d) => d.digest === entry.digest) ? others : [...others, unnamed(entry)];
      });
      send(res, 202);
      return;
    }
    if (digestProblem(reference)) throw new RegistryError(400, 'DIGEST_INVALID', 'invalid digest', { digest: reference });
    await store.locked(async () => {
      const current = store.readIndex().manifests;
      if (!current.some((d) => d.digest === reference)) {
        if (this.view.manifest(reference) && this.view.reachable().has(reference)) {
          throw unsupported(`${reference} is part of an image index in this registry: delete the index`);
        }
        throw manifestUnknown(reference);
      }
      store.replaceIndex((manifests) => manifests.filter((d) => d.digest !== reference));
      this.removeIfUnused(reference);
    });
    send(res, 202);
  }

  /** DELETE /v2/<name>/blobs/<digest> */
  async deleteBlob(res: Res, digest: string): Promise<void> {
    if (digestProblem(digest)) throw new RegistryError(400, 'DIGEST_INVALID', 'invalid digest', { digest });
    const store = this.view.store;
    await store.locked(async () => {
      if (!store.hasBlob(digest)) throw blobUnknown(digest);
      if (this.view.reachable().has(digest)) throw unsupported(`blob ${digest} is used by a manifest in this registry: delete the manifest first`);
      this.holds.release([digest]); // an upload of this serve that no manifest took up
      if (store.pendingDigests().has(digest)) throw unsupported(`blob ${digest} is being written by a load or push in progress`);
      rmSync(join(store.root, blobPath(digest)), { force: true });
    });
    send(res, 202);
  }

  /** The caller holds the lock. */
  private removeIfUnused(digest: string): void {
    const store = this.view.store;
    if (this.view.reachable().has(digest) || store.pendingDigests().has(digest)) return;
    rmSync(join(store.root, blobPath(digest)), { force: true });
  }
}

function unnamed(d: Descriptor): Descriptor {
  const size = d.annotations?.[SIZE_ANNOTATION];
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, ...(size ? { annotations: { [SIZE_ANNOTATION]: size } } : {}) };
}
