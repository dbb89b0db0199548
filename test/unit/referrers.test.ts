import { describe, expect, it } from 'vitest';
import { cosignTags, cosignTagSubject, hasOnlyNonTarLayers, referrersFallbackTag, referrersFallbackTagSubject } from '../../src/model/referrers.js';
import { MediaType } from '../../src/model/media-types.js';

const hex = 'a2f70feebcf7fda5d9026a5e831befe3de33a4fd25e71945074812505c9724b7';

describe('supply-chain naming conventions', () => {
  it("reads cosign's tags (.sig, .att, .sbom) with or without a repository, and nothing else", () => {
    expect(cosignTagSubject(`sha256-${hex}.sig`)).toEqual({ subject: `sha256:${hex}`, kind: 'signature' });
    expect(cosignTagSubject(`docker.io/team/app:sha256-${hex}.att`)).toEqual({ subject: `sha256:${hex}`, kind: 'attestation' });
    expect(cosignTagSubject(`127.0.0.1:5000/app:sha256-${hex}.sbom`)).toEqual({ subject: `sha256:${hex}`, kind: 'sbom' });
    expect(cosignTagSubject(`app:sha256-${hex}.foo`)).toBeUndefined();
    expect(cosignTagSubject(`app:sha256-${hex}`)).toBeUndefined();
    expect(cosignTagSubject(`app:sha256-${hex.slice(1)}.sig`)).toBeUndefined();
    expect(cosignTagSubject('localhost:5000/sha256-x.sig')).toBeUndefined();
    expect(cosignTags(`sha256:${hex}`).signature).toBe(`sha256-${hex}.sig`);
  });

  it('reads and writes the OCI 1.1 referrers fallback tag', () => {
    expect(referrersFallbackTag(`sha256:${hex}`)).toBe(`sha256-${hex}`);
    expect(referrersFallbackTagSubject(`app:sha256-${hex}`)).toBe(`sha256:${hex}`);
    expect(referrersFallbackTagSubject(`app:sha256-${hex}.sig`)).toBeUndefined();
  });

  it('a manifest is an artifact when every layer is something other than a file-system tar', () => {
    const d = (mediaType: string) => ({ mediaType, digest: `sha256:${hex}`, size: 1 });
    expect(hasOnlyNonTarLayers([d('application/vnd.dev.cosign.simplesigning.v1+json')])).toBe(true);
    expect(hasOnlyNonTarLayers([d('application/vnd.dsse.envelope.v1+json'), d('text/spdx+json')])).toBe(true);
    expect(hasOnlyNonTarLayers([d(MediaType.ociLayerGzip), d('text/spdx+json')])).toBe(false);
    expect(hasOnlyNonTarLayers([])).toBe(false);
  });
});
