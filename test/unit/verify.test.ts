import { describe, expect, it } from 'vitest';
import { verifyPath } from '../../src/ops/verify.js';
import { buildImage, dockerArchiveEntries, ociEntries, tarBuffer, type Entry } from '../../src/testing/build.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
let n = 0;
const tarFile = async (entries: Entry[]) => writeTemp(dir, `v${n++}.tar`, await tarBuffer(entries));
const img = await buildImage({ names: ['app:1'], layers: [{ files: { 'a.txt': 'a' } }, { files: { 'b.txt': 'b' }, compression: 'gzip' }] });
const dimg = await buildImage({ names: ['app:1'], layers: [{ files: { 'a.txt': 'a' } }, { files: { 'b.txt': 'b' } }] }, 'docker');
const hex = (d: string) => d.slice(7);

function replace(entries: Entry[], name: string, data: Buffer): Entry[] {
  return entries.map((e) => (e.name === name ? { name, data } : e));
}

const codes = async (path: string) => (await verifyPath(path)).problems.map((p) => p.code).sort();

describe('verify', () => {
  it('passes sound archives of every layout', async () => {
    for (const entries of [dockerArchiveEntries([dimg]), ociEntries([img]), ociEntries([img], { hybrid: true })]) {
      const r = await verifyPath(await tarFile(entries));
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.blobsChecked).toBeGreaterThan(0);
    }
  });

  it('catches a changed byte in an uncompressed layer of a docker archive (diffID)', async () => {
    const entries = dockerArchiveEntries([dimg]);
    const layerName = entries.find((e) => 'data' in e && e.name.endsWith('layer.tar'))!.name;
    const bad = Buffer.from(dimg.layers[0].uncompressed);
    bad[600] ^= 1;
    const r = await verifyPath(await tarFile(replace(entries, layerName, bad)));
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => [p.code, p.subject])).toEqual([['diffid-mismatch', layerName]]);
  });

  it('catches every problem of an OCI archive, not just the first', async () => {
    let entries = ociEntries([img]);
    const gz = Buffer.from(img.layers[1].data);
    gz[gz.length - 5] ^= 0xff; // gzip trailer: content differs, decoder complains
    entries = replace(entries, `blobs/sha256/${hex(img.layers[1].digest)}`, gz);
    entries = replace(entries, `blobs/sha256/${hex(img.layers[0].digest)}`, Buffer.concat([img.layers[0].data, Buffer.from('x')]));
    const r = await verifyPath(await tarFile(entries));
    expect(r.problems.map((p) => p.code).sort()).toEqual(['corrupt-layer', 'diffid-mismatch', 'digest-mismatch', 'size-mismatch']);
    expect(r.problems.every((p) => p.subject.startsWith('sha256:'))).toBe(true);
  });

  it('reports missing blobs, a wrong layer count, a bad config name and bad JSON', async () => {
    const noLayer = ociEntries([img]).filter((e) => e.name !== `blobs/sha256/${hex(img.layers[0].digest)}`);
    expect(await codes(await tarFile(noLayer))).toEqual(['missing-blob']);

    const entries = dockerArchiveEntries([dimg]);
    const manifest = JSON.parse((entries.find((e) => e.name === 'manifest.json') as { data: Buffer }).data.toString());
    manifest[0].Layers.pop();
    expect(await codes(await tarFile(replace(entries, 'manifest.json', Buffer.from(JSON.stringify(manifest)))))).toEqual(['layer-count']);

    const renamed = entries.map((e) => (e.name === `${hex(dimg.config.digest)}.json` ? { ...e, name: `${'0'.repeat(64)}.json` } : e));
    const m2 = JSON.parse((entries.find((e) => e.name === 'manifest.json') as { data: Buffer }).data.toString());
    m2[0].Config = `${'0'.repeat(64)}.json`;
    expect(await codes(await tarFile(replace(renamed, 'manifest.json', Buffer.from(JSON.stringify(m2)))))).toEqual(['config-digest-mismatch']);

    expect(await codes(await tarFile(replace(entries, 'manifest.json', Buffer.from('{not json'))))).toEqual(['bad-json']);
    expect(await codes(await tarFile(replace(ociEntries([img]), 'index.json', Buffer.from('{}'))))).toEqual(['bad-index', 'bad-index']);
  });

  it('reports links that leave the archive or loop, unsafe names and duplicates', async () => {
    const base = ociEntries([img]);
    const r = await codes(await tarFile([
      ...base,
      { name: 'escape', symlink: '../../etc/passwd' },
      { name: 'loop1', symlink: 'loop2' },
      { name: 'loop2', symlink: 'loop1' },
      { name: '../evil', data: Buffer.from('x') },
      { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    ]));
    expect(r).toEqual(['link-escapes', 'link-loop', 'link-loop', 'tar-duplicate', 'tar-unsafe-name']);
  });

  it('names a layer path of manifest.json that is a link to /etc/passwd', async () => {
    const entries = dockerArchiveEntries([dimg]);
    const layerName = entries.find((e) => 'data' in e && e.name.endsWith('layer.tar'))!.name;
    const linked: Entry[] = entries.map((e) => (e.name === layerName ? { name: layerName, symlink: '/etc/passwd' } : e));
    const r = await verifyPath(await tarFile(linked));
    expect(r.problems.map((p) => [p.code, p.subject])).toContainEqual(['link-escapes', layerName]);
  });

  it('catches truncation and says an empty or foreign file is not an image archive', async () => {
    const tar = await tarBuffer(dockerArchiveEntries([dimg]));
    for (const cut of [700, 2048, tar.length - 2048 + 100]) {
      const r = await verifyPath(writeTemp(dir, `cut${cut}.tar`, tar.subarray(0, cut)));
      expect(r.ok).toBe(false);
      expect(r.problems.map((p) => p.code)).toEqual(['truncated']);
    }
    // Cut on the boundary before `repositories` (docker load needs it only for pre-1.10
    // archives): whole but for the end blocks, as GNU tar and Go's archive/tar read it too.
    const boundary = await verifyPath(writeTemp(dir, 'boundary.tar', tar.subarray(0, tar.length - 2048)));
    expect([boundary.ok, boundary.warnings.map((w) => w.code)]).toEqual([true, ['tar-no-end']]);
    expect(await codes(writeTemp(dir, 'empty.tar', Buffer.alloc(10240)))).toEqual(['not-an-archive']);
    expect(await codes(writeTemp(dir, 'text.tar', 'hello'))).toEqual(['not-an-archive']);
  });
});
