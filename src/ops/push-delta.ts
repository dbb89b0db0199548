/**
 * Before a delta is pushed: the registry must already hold every blob the delta left out, in the
 * target repository (HEAD) or in one it can mount them from (`--mount-from`, a cross-repository
 * blob mount: POST /blobs/uploads/?mount=DIGEST&from=REPO, 201 when mounted). Checked for every
 * target repository before anything is pushed, so a delta that cannot complete pushes nothing.
 */
import { invalid } from '../errors.js';
import { RegistryClient } from '../formats/registry/client.js';
import type { ArchiveSource } from '../formats/source.js';
import { parseReference, parseReferenceOrThrow } from '../model/reference.js';

export async function ensureDeltaBlobs(source: ArchiveSource, repositories: string[], mountFrom: string[]): Promise<{ present: number; mounted: number }> {
  const omitted = source.catalog.delta?.omitted ?? [];
  let present = 0;
  let mounted = 0;
  for (const repo of repositories) {
    const host = new RegistryClient(parseReference(repo, { defaultTag: false })).host;
    const fromPaths = mountFrom.map((from) => parseReferenceOrThrow(from.includes('/') ? from : `${host}/${from}`).path);
    const client = new RegistryClient(parseReference(repo, { defaultTag: false }), { push: mountFrom.length > 0, alsoPullFrom: fromPaths });
    const missing: string[] = [];
    for (const o of omitted) {
      const head = await client.request('HEAD', `blobs/${o.digest}`, { ok: [404] });
      await head.discard();
      if (head.status === 200) {
        present++;
        continue;
      }
      let done = false;
      for (const path of fromPaths) {
        const res = await client.request('POST', `blobs/uploads/?mount=${encodeURIComponent(o.digest)}&from=${encodeURIComponent(path)}`, { ok: [201, 202, 404] });
        await res.discard();
        if (res.status === 201) {
          done = true;
          mounted++;
          break;
        }
      }
      if (!done) missing.push(o.digest);
    }
    if (missing.length) {
      throw invalid('delta-incomplete', `${source.display} is a delta and the registry lacks ${missing.length} blob${missing.length === 1 ? '' : 's'} it left out: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''} (give --mount-from REPO if another repository has them); nothing was pushed`, repo);
    }
  }
  return { present, mounted };
}
