import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSource } from '../../src/formats/source.js';
import { inspectSource } from '../../src/ops/inspect.js';
import { MediaType } from '../../src/model/media-types.js';
import { buildImage, dockerArchiveEntries, ociEntries, sha256, tarBuffer, writeEntriesToDir, type Entry } from '../../src/testing/build.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
let n = 0;
const tarFile = async (entries: Entry[]) => writeTemp(dir, `a${n++}.tar`, await tarBuffer(entries));

const base = { files: { 'etc/os-release': 'ID=test\n' } };
const imgA = await buildImage({ names: ['busybox:latest', 'registry.local:5000/team/a:1'], layers: [base, { files: { 'a.txt': 'a' } }] });
const imgB = await buildImage({ names: ['user/b:2'], layers: [base, { files: { 'b.txt': 'b' }, compression: 'gzip' }] });
const dockerA = await buildImage({ names: ['busybox:latest'], layers: [base, { files: { 'a.txt': 'a' } }] }, 'docker');
const dockerB = await buildImage({ names: ['user/b:2'], layers: [base, { files: { 'b.txt': 'b' } }] }, 'docker');

async function inspect(path: string) {
  const s = await openSource(path);
  try {
    return inspectSource(s);
  } finally {
    await s.close();
  }
}

describe('format detection and reading', () => {
  it('reads a docker <= 24 archive with shared layers and names', async () => {
    const r = await inspect(await tarFile(dockerArchiveEntries([dockerA, dockerB])));
    expect(r.format).toBe('docker-archive');
    expect(r.problems).toEqual([]);
    expect(r.images.map((i) => [i.id, i.repoTags])).toEqual([
      [dockerA.config.digest, ['docker.io/library/busybox:latest']],
      [dockerB.config.digest, ['docker.io/user/b:2']],
    ]);
    expect(r.images[0].layers.map((l) => l.diffId)).toEqual(dockerA.layers.map((l) => l.diffId));
    expect(r.images[0].layers[0].mediaType).toBe(MediaType.dockerLayer);
    expect(r.shared.layers).toHaveLength(1);
    expect(r.shared.savedBytes).toBe(dockerA.layers[0].data.length);
  });

  it('reads a hybrid once per image ID, with names from both halves', async () => {
    const r = await inspect(await tarFile(ociEntries([imgA, imgB], { hybrid: true, refNameStyle: 'tag' })));
    expect(r.format).toBe('hybrid');
    expect(r.images).toHaveLength(2);
    expect(r.images[0].repoTags.sort()).toEqual(['docker.io/library/busybox:latest', 'registry.local:5000/team/a:1']);
    expect(r.images[0].refNames).toEqual([]);
    expect(r.images[0].manifestDigests).toEqual([imgA.manifest.digest]);
    expect(r.images[1].layers[1].mediaType).toBe(MediaType.ociLayerGzip);
  });

  it('reads an oci-archive and an OCI layout directory; bare ref names stay apart', async () => {
    const entries = ociEntries([imgA], { refNameStyle: 'none' });
    const index = { schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: imgA.manifest.digest, size: imgA.manifest.data.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] };
    entries[entries.length - 1] = { name: 'index.json', data: Buffer.from(JSON.stringify(index)) };
    const tarred = await inspect(await tarFile(entries));
    expect(tarred.format).toBe('oci-archive');
    expect(tarred.images[0].repoTags).toEqual([]);
    expect(tarred.images[0].refNames).toEqual(['latest']);
    const layout = join(dir, 'layout');
    await writeEntriesToDir(entries, layout);
    const fromDir = await inspect(layout);
    expect(fromDir.format).toBe('oci-layout');
    expect(fromDir.images[0].id).toBe(imgA.config.digest);
  });

  it('recognises the outer wrapping by magic bytes, not by name', async () => {
    const tar = await tarBuffer(dockerArchiveEntries([dockerA]));
    const r = await inspect(writeTemp(dir, 'looks-plain.tar', gzipSync(tar)));
    expect(r.compression).toBe('gzip');
    expect(r.images[0].id).toBe(dockerA.config.digest);
    for (const [file, compression] of [['tiny.tar.xz', 'xz'], ['tiny.tar.zst', 'zstd'], ['tiny.tar.bz2', 'bzip2']]) {
      const w = await inspect(new URL(`../data/${file}`, import.meta.url).pathname);
      expect(w.compression).toBe(compression);
      expect(w.images[0].repoTags).toEqual(['docker.io/library/tiny:1']);
    }
  });

  it('follows nested indexes; an absent other-platform child is a warning; artifacts are apart', async () => {
    const arm = await buildImage({ layers: [{ files: { arm: '1' } }], architecture: 'arm', variant: 'v7' });
    const attConfig = Buffer.from('{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}');
    const attManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: sha256(attConfig), size: attConfig.length }, layers: [] }));
    const absent = sha256('not here');
    const nested = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [
        { mediaType: MediaType.ociManifest, digest: arm.manifest.digest, size: arm.manifest.data.length, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
        { mediaType: MediaType.ociManifest, digest: absent, size: 100, platform: { os: 'linux', architecture: 's390x' } },
        { mediaType: MediaType.ociManifest, digest: sha256(attManifest), size: attManifest.length, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': arm.manifest.digest } },
      ],
    }));
    const top = { schemaVersion: 2, manifests: [{ mediaType: MediaType.ociIndex, digest: sha256(nested), size: nested.length, annotations: { 'io.containerd.image.name': 'docker.io/x/multi:1', 'org.opencontainers.image.ref.name': '1' } }] };
    const entries = ociEntries([arm], { index: top, extraBlobs: [
      { digest: sha256(nested), data: nested, mediaType: MediaType.ociIndex },
      { digest: sha256(attConfig), data: attConfig, mediaType: MediaType.ociConfig },
      { digest: sha256(attManifest), data: attManifest, mediaType: MediaType.ociManifest },
    ] });
    const r = await inspect(await tarFile(entries));
    expect(r.problems).toEqual([]);
    expect(r.warnings.map((w) => w.code)).toEqual(['absent-child']);
    expect(r.images.map((i) => [i.repoTags, i.platform])).toEqual([[['docker.io/x/multi:1'], { os: 'linux', architecture: 'arm', variant: 'v7' }]]);
    expect(r.artifacts.map((a) => [a.kind, a.refersTo])).toEqual([['attestation', arm.manifest.digest]]);
    expect(r.indexes[0].manifests.map((m) => m.present)).toEqual([true, false, true]);
  });

  it('a cosign signature under its tag (sha256-<hex>.sig) is an artifact of the image it names, though its config has rootfs', async () => {
    const img = await buildImage({ names: ['team/app:1'], layers: [{ files: { a: '1' } }] });
    const payload = Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': 'team/app' }, image: { 'docker-manifest-digest': img.manifest.digest }, type: 'cosign container image signature' }, optional: null }));
    // cosign's own config for a signature: an image-config shape with empty os and architecture.
    const sigConfig = Buffer.from(JSON.stringify({ architecture: '', created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '', rootfs: { type: 'layers', diff_ids: [sha256(payload)] }, config: {} }));
    const layer = { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sha256(payload), size: payload.length, annotations: { 'dev.cosignproject.cosign/signature': 'MEUC' } };
    const sigManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: sha256(sigConfig), size: sigConfig.length }, layers: [layer] }));
    const sigTag = `${img.manifest.digest.replace(':', '-')}.sig`;
    const index = { schemaVersion: 2, manifests: [
      { mediaType: MediaType.ociManifest, digest: img.manifest.digest, size: img.manifest.data.length, annotations: { 'org.opencontainers.image.ref.name': 'docker.io/team/app:1' } },
      { mediaType: MediaType.ociManifest, digest: sha256(sigManifest), size: sigManifest.length, annotations: { 'org.opencontainers.image.ref.name': `docker.io/team/app:${sigTag}` } },
    ] };
    const entries = ociEntries([img], { index, extraBlobs: [
      { digest: sha256(payload), data: payload, mediaType: layer.mediaType },
      { digest: sha256(sigConfig), data: sigConfig, mediaType: MediaType.ociConfig },
      { digest: sha256(sigManifest), data: sigManifest, mediaType: MediaType.ociManifest },
    ] });
    const r = await inspect(await tarFile(entries));
    expect(r.problems).toEqual([]);
    expect(r.images.map((i) => i.id)).toEqual([img.config.digest]);
    expect(r.artifacts.map((a) => [a.kind, a.refersTo])).toEqual([['signature', img.manifest.digest]]);
  });

  it('follows symlinked duplicate layers inside the archive (docker <= 24, skopeo)', async () => {
    const entries = dockerArchiveEntries([dockerA]);
    const layerPath = (JSON.parse((entries.find((e) => e.name === 'manifest.json') as { data: Buffer }).data.toString())[0].Layers as string[])[1];
    const [folder] = layerPath.split('/');
    const moved: Entry[] = entries.map((e) => (e.name === layerPath ? { name: layerPath, symlink: '../moved.tar' } : e));
    moved.unshift({ name: 'moved.tar', data: dockerA.layers[1].uncompressed });
    const r = await inspect(await tarFile(moved));
    expect(r.problems).toEqual([]);
    expect(r.images[0].layers[1].diffId).toBe(dockerA.layers[1].diffId);
    expect(folder).toMatch(/^[0-9a-f]{64}$/);
  });

  it('matches manifest.json keys case-insensitively (Jib) and accepts RepoTags [] and null', async () => {
    const entries = dockerArchiveEntries([dockerA]);
    const m = JSON.parse((entries.find((e) => e.name === 'manifest.json') as { data: Buffer }).data.toString());
    const jib = [{ config: m[0].Config, repoTags: [], layers: m[0].Layers }];
    const r = await inspect(await tarFile(entries.map((e) => (e.name === 'manifest.json' ? { name: e.name, data: Buffer.from(JSON.stringify(jib)) } : e))));
    expect(r.problems).toEqual([]);
    expect(r.images[0].repoTags).toEqual([]);
  });

  it('refuses what is not an image archive, with the format named when it is too old', async () => {
    await expect(openSource(await tarFile([{ name: 'readme.txt', data: Buffer.from('hi') }]))).rejects.toThrow(/not an image archive/);
    await expect(openSource(writeTemp(dir, 'junk.bin', Buffer.from('definitely not a tar archive, just some text')))).rejects.toThrow(/neither a tar/);
    const legacy = await tarFile([{ name: 'repositories', data: Buffer.from('{}') }, { name: `${'a'.repeat(64)}/json`, data: Buffer.from('{}') }]);
    await expect(openSource(legacy)).rejects.toThrow(/Docker <= 1.9/);
    await expect(openSource(join(dir, 'nope.tar'))).rejects.toMatchObject({ exitCode: 2 });
  });
});
