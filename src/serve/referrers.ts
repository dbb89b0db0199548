/**
 * The OCI 1.1 referrers API, `GET /v2/<name>/referrers/<digest>`: an image index of every
 * manifest in the store whose `subject` is that digest (signatures, attestations, SBOMs pushed by
 * cosign, oras or imgpack), answered even when the subject itself is absent, as the spec asks.
 * `?artifactType=` filters, and the response then says so in `OCI-Filters-Applied`.
 */
import { MediaType } from '../model/media-types.js';
import type { Descriptor } from '../model/oci.js';
import { digestProblem } from '../model/digest.js';
import { RegistryError } from './errors.js';
import { send, type Req, type Res } from './http-util.js';
import type { StoreView } from './store-view.js';

export function getReferrers(view: StoreView, req: Req, res: Res, subject: string, query: URLSearchParams): void {
  if (digestProblem(subject)) throw new RegistryError(400, 'DIGEST_INVALID', 'invalid digest', { digest: subject });
  const artifactType = query.get('artifactType');
  let manifests = view.referrers(subject);
  const headers: Record<string, string | number> = { 'Content-Type': MediaType.ociIndex };
  if (artifactType !== null) {
    manifests = manifests.filter((d) => d.artifactType === artifactType);
    headers['OCI-Filters-Applied'] = 'artifactType';
  }
  const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests });
  send(res, 200, headers, req.method === 'HEAD' ? undefined : body);
}
