import { describe, expect, it } from 'vitest';
import { matchImages, selectImages } from '../../src/ops/select.js';
import type { Catalog, ImageRecord } from '../../src/model/catalog.js';
import { Findings } from '../../src/model/catalog.js';

const image = (hex: string, repoTags: string[] = [], refNames: string[] = []): ImageRecord => ({
  id: `sha256:${hex.padEnd(64, '0')}`,
  config: { descriptor: { mediaType: '', digest: `sha256:${hex.padEnd(64, '0')}`, size: 2 }, raw: Buffer.from('{}'), json: { rootfs: { type: 'layers', diff_ids: [] } } },
  manifests: [{ digest: `sha256:${'f'.repeat(63)}${hex[0]}`, mediaType: '', layers: [] }],
  repoTags, refNames,
});
const catalog: Catalog = {
  format: 'oci-archive', artifacts: [], indexes: [], roots: [], blobs: [], findings: new Findings(),
  images: [image('abc1', ['docker.io/library/abc:latest']), image('abc2', [], ['v1']), image('def')],
};

describe('--image selection', () => {
  it('prefers a name over an ID prefix, as docker does', () => {
    expect(matchImages(catalog, 'abc').map((i) => i.id)).toEqual([catalog.images[0].id]);
  });
  it('matches a unique ID prefix, a bare ref name and a manifest digest', () => {
    expect(matchImages(catalog, 'abc2').map((i) => i.id)).toEqual([catalog.images[1].id]);
    expect(matchImages(catalog, 'sha256:de').map((i) => i.id)).toEqual([catalog.images[2].id]);
    expect(matchImages(catalog, 'v1').map((i) => i.id)).toEqual([catalog.images[1].id]);
    expect(matchImages(catalog, `sha256:${'f'.repeat(63)}d`).map((i) => i.id)).toEqual([catalog.images[2].id]);
  });
  it('an ambiguous prefix is an error that lists the candidates', () => {
    expect(() => matchImages(catalog, 'ab')).toThrow('image ID prefix ab is ambiguous: abc100000000, abc200000000');
  });
  it('no match is an exit-1 error naming the reference', () => {
    expect(() => selectImages(catalog, ['nginx'], 'x.tar')).toThrow(expect.objectContaining({ exitCode: 1, subject: 'nginx' }));
  });
});
