import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, ociEntries, sha256, tarBuffer, type Entry } from '../../src/testing/build.js';
import { MediaType } from '../../src/model/media-types.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const base = { files: { 'etc/os-release': 'ID=test\n' } };
const a = await buildImage({ names: ['busybox:latest', 'mybusybox:1'], layers: [base, { files: { a: 'a' } }] }, 'docker');
const b = await buildImage({ names: ['quay.io/team/b:2'], layers: [base, { files: { b: 'b' }, compression: 'gzip' }] });
const archiveA = writeTemp(dir, 'a.tar', await tarBuffer(dockerArchiveEntries([a])));
const archiveB = writeTemp(dir, 'b.tar', await tarBuffer(ociEntries([b])));
const ids = async (path: string) => (await runCli('inspect', path, '--json')).json().images.map((i: { id: string; repoTags: string[] }) => [i.id, [...i.repoTags].sort()]);

describe('convert', () => {
  it.each(['hybrid', 'docker-archive', 'oci-archive', 'oci-layout'])('to %s keeps ids, diffIDs and names, and verifies', async (format) => {
    const out = join(dir, `conv-${format}${format === 'oci-layout' ? '/' : '.tar'}`);
    const r = await runCli('convert', archiveA, '-o', out, '--format', format);
    expect(r.code, r.stderr).toBe(0);
    expect(await ids(out)).toEqual([[a.config.digest, ['docker.io/library/busybox:latest', 'docker.io/library/mybusybox:1']]]);
    const doc = (await runCli('inspect', out, '--json')).json();
    expect(doc.format).toBe(format);
    expect(doc.images[0].layers.map((l: { diffId: string }) => l.diffId)).toEqual(a.layers.map((l) => l.diffId));
    expect((await runCli('verify', out)).code).toBe(0);
  });

  it('writes names as CLI.md says: familiar RepoTags, full references in both annotations', async () => {
    const out = join(dir, 'names.tar');
    await runCli('convert', archiveA, '-o', out);
    const { TarTree } = await import('../../src/io/file-tree.js');
    const tree = await TarTree.open(out);
    const read = async (name: string) => {
      const r = await tree.resolve(name);
      if (!r.ok) throw new Error(name);
      return JSON.parse((await tree.head(r.file, r.file.size)).toString());
    };
    const manifest = await read('manifest.json');
    expect(manifest[0].RepoTags).toEqual(['busybox:latest', 'mybusybox:1']);
    const index = await read('index.json');
    expect(index.manifests.map((d: { annotations: Record<string, string> }) => d.annotations)).toEqual([
      { 'io.containerd.image.name': 'docker.io/library/busybox:latest', 'org.opencontainers.image.ref.name': 'docker.io/library/busybox:latest' },
      { 'io.containerd.image.name': 'docker.io/library/mybusybox:1', 'org.opencontainers.image.ref.name': 'docker.io/library/mybusybox:1' },
    ]);
    expect(index.manifests[0].mediaType).toBe(MediaType.ociManifest);
    await tree.close();
  });

  it('is deterministic: the same input gives byte-identical output', async () => {
    await runCli('convert', archiveA, '-o', join(dir, 'd1.tar'));
    await runCli('convert', archiveA, '-o', join(dir, 'd2.tar'));
    expect(readFileSync(join(dir, 'd1.tar')).equals(readFileSync(join(dir, 'd2.tar')))).toBe(true);
  });

  it('recompresses layers on request, keeps diffIDs and reports the changed manifest', async () => {
    const out = join(dir, 'gz.tar');
    const r = await runCli('convert', archiveB, '-o', out, '--layers', 'uncompressed', '--format', 'oci-archive', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().changedManifests).toEqual([{ from: b.manifest.digest, to: expect.stringMatching(/^sha256:/), reason: 'layers recompressed' }]);
    const doc = (await runCli('inspect', out, '--json')).json();
    expect(doc.images[0].layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([MediaType.ociLayer, MediaType.ociLayer]);
    expect(doc.images[0].layers.map((l: { diffId: string }) => l.diffId)).toEqual(b.layers.map((l) => l.diffId));
    expect((await runCli('verify', out)).code).toBe(0);
    const back = join(dir, 'gz2.tar');
    expect((await runCli('convert', out, '-o', back, '--layers', 'gzip')).code).toBe(0);
    expect((await runCli('verify', back)).code).toBe(0);
  });

  it('gzip-wraps the output for .tar.gz and streams to standard output with -o -', async () => {
    const out = join(dir, 'wrapped.tar.gz');
    expect((await runCli('convert', archiveA, '-o', out)).code).toBe(0);
    expect(readFileSync(out).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect((await runCli('inspect', out, '--json')).json().compression).toBe('gzip');
  });

  it('a corrupt input blob stops the copy: no output appears, the error names the member', async () => {
    const entries = dockerArchiveEntries([a]);
    const layer = entries.find((e) => 'data' in e && e.name.endsWith('layer.tar') && (e as { data: Buffer }).data.equals(a.layers[1].uncompressed))!;
    const bad: Entry[] = entries.map((e) => (e === layer ? { name: e.name, data: Buffer.concat([a.layers[1].uncompressed.subarray(0, 100), Buffer.from('X'), a.layers[1].uncompressed.subarray(101)]) } : e));
    const input = writeTemp(dir, 'corrupt.tar', await tarBuffer(bad));
    const out = join(dir, 'never.tar');
    const r = await runCli('convert', input, '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^imgpack: blob content has digest sha256:[0-9a-f]{64}, not ${a.layers[1].diffId}: the input is corrupt \\(.*corrupt.tar: ${layer.name}\\)\\n$`));
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.imgpack-'))).toEqual([]);
  });

  it('refuses to overwrite its input and an unwritable output (exit 2)', async () => {
    const r = await runCli('convert', archiveA, '-o', archiveA);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the output is one of the inputs');
    const denied = await runCli('convert', archiveA, '-o', '/proc/imgpack-cannot-write/out.tar');
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/^imgpack: .*\(\/proc\/imgpack-cannot-write.*\)\n$/);
  });

  it('selects by --image and --platform', async () => {
    const arm = await buildImage({ names: ['quay.io/team/b:2'], architecture: 'arm64', layers: [base, { files: { b: 'arm' } }] });
    const nested = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [
      { mediaType: MediaType.ociManifest, digest: b.manifest.digest, size: b.manifest.data.length, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MediaType.ociManifest, digest: arm.manifest.digest, size: arm.manifest.data.length, platform: { os: 'linux', architecture: 'arm64' } },
    ] }));
    const top = { schemaVersion: 2, manifests: [{ mediaType: MediaType.ociIndex, digest: sha256(nested), size: nested.length, annotations: { 'io.containerd.image.name': 'quay.io/team/b:2' } }] };
    const multi = writeTemp(dir, 'multi.tar', await tarBuffer(ociEntries([b, arm], { index: top, extraBlobs: [{ digest: sha256(nested), data: nested, mediaType: MediaType.ociIndex }] })));
    const armOnly = join(dir, 'arm.tar');
    expect((await runCli('convert', multi, '--platform', 'linux/arm64', '-o', armOnly)).code).toBe(0);
    expect(await ids(armOnly)).toEqual([[arm.config.digest, ['quay.io/team/b:2']]]);
    const all = join(dir, 'all.tar');
    const r = await runCli('convert', multi, '-o', all, '--json');
    expect(r.json().platformChoices).toEqual([{ name: 'quay.io/team/b:2', image: b.config.digest, platform: 'linux/amd64' }]);
    expect((await ids(all)).length).toBe(2);
    const none = await runCli('convert', multi, '--platform', 'linux/s390x', '-o', join(dir, 'none.tar'));
    expect(none.code).toBe(1);
    expect((await runCli('convert', archiveA, '--image', 'mybusybox:1', '-o', join(dir, 'sel.tar'))).code).toBe(0);
    expect((await runCli('convert', archiveA, '--platform', 'bogus', '-o', join(dir, 'x.tar'))).code).toBe(2);
  });
});

describe('merge and split', () => {
  it('merges with every blob once and reports what deduplication saved', async () => {
    const out = join(dir, 'merged.tar');
    const r = await runCli('merge', archiveA, archiveB, '-o', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().bytesDeduplicated).toBeGreaterThan(0);
    expect((await ids(out)).map((x: string[]) => x[0]).sort()).toEqual([a.config.digest, b.config.digest].sort());
  });

  it('two sources naming different images the same: an error naming both, unless --prefer', async () => {
    const other = await buildImage({ names: ['busybox:latest'], layers: [{ files: { other: '1' } }] }, 'docker');
    const clash = writeTemp(dir, 'clash.tar', await tarBuffer(dockerArchiveEntries([other])));
    const r = await runCli('merge', archiveA, clash, '-o', join(dir, 'm.tar'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`busybox:latest names different images in ${archiveA}`);
    expect(r.stderr).toContain(clash);
    const last = join(dir, 'last.tar');
    expect((await runCli('merge', archiveA, clash, '-o', last, '--prefer', 'last')).code).toBe(0);
    const got = await ids(last);
    expect(got).toContainEqual([other.config.digest, ['docker.io/library/busybox:latest']]);
    expect(got).toContainEqual([a.config.digest, ['docker.io/library/mybusybox:1']]);
  });

  it('splits into one loadable archive per image, named safely', async () => {
    const merged = join(dir, 'tosplit.tar');
    await runCli('merge', archiveA, archiveB, '-o', merged);
    const out = join(dir, 'parts');
    expect((await runCli('split', merged, '-o', out)).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['busybox_latest.tar', 'quay.io_team_b_2.tar']);
    expect(await ids(join(out, 'busybox_latest.tar'))).toEqual([[a.config.digest, ['docker.io/library/busybox:latest', 'docker.io/library/mybusybox:1']]]);
    expect((await runCli('verify', join(out, 'quay.io_team_b_2.tar'))).code).toBe(0);
  });
});

describe('tag, untag, retag', () => {
  it('tag adds names by name or ID prefix, in place and atomically', async () => {
    const file = writeTemp(dir, 'tagme.tar', readFileSync(archiveA));
    expect((await runCli('tag', file, a.config.digest.slice(7, 19), 'registry.local:5000/busybox:1', 'other')).code).toBe(0);
    expect(await ids(file)).toEqual([[a.config.digest, ['docker.io/library/busybox:latest', 'docker.io/library/mybusybox:1', 'docker.io/library/other:latest', 'registry.local:5000/busybox:1'].sort()]]);
    expect(readdirSync(dir).filter((f) => f.includes('.imgpack-'))).toEqual([]);
  });

  it('a failed in-place rewrite leaves the old archive intact', async () => {
    const entries = dockerArchiveEntries([a]);
    const layer = entries.find((e) => 'data' in e && e.name.endsWith('layer.tar'))!;
    const broken: Entry[] = entries.map((e) => (e === layer ? { name: e.name, data: Buffer.alloc((e as { data: Buffer }).data.length, 1) } : e));
    const file = writeTemp(dir, 'intact.tar', await tarBuffer(broken));
    const before = readFileSync(file);
    const r = await runCli('tag', file, 'busybox', 'new:1');
    expect(r.code).toBe(1);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.imgpack-'))).toEqual([]);
  });

  it('untag removes names and keeps the image; retag rewrites prefixes', async () => {
    const file = writeTemp(dir, 'untag.tar', readFileSync(archiveA));
    const r = await runCli('untag', file, 'busybox', 'mybusybox:1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('has no name left');
    expect(await ids(file)).toEqual([[a.config.digest, []]]);
    expect((await runCli('untag', file, 'nope')).code).toBe(1);
    const out = join(dir, 'retagged.tar');
    const rt = await runCli('retag', archiveA, '--replace-prefix', 'docker.io/library/=registry.local:5000/library/', '-o', out);
    expect(rt.code, rt.stderr).toBe(0);
    expect(await ids(out)).toEqual([[a.config.digest, ['registry.local:5000/library/busybox:latest', 'registry.local:5000/library/mybusybox:1']]]);
    expect((await runCli('retag', archiveA, '--replace-prefix', 'nope', '-o', join(dir, 'x.tar'))).code).toBe(2);
    expect((await runCli('retag', archiveA, '--replace-prefix', 'docker.io/=UPPER CASE/', '-o', join(dir, 'y.tar'))).code).toBe(2);
  });

  it('bad references are usage errors (exit 2)', async () => {
    const r = await runCli('tag', archiveA, 'busybox', 'Bad:Name:x', '-o', join(dir, 'z.tar'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^imgpack: invalid reference: .*\(Bad:Name:x\)\n$/);
    expect(statSync(archiveA).size).toBeGreaterThan(0);
  });
});

describe('merge of the same image from different layouts', () => {
  it('is one image, not a name conflict', async () => {
    const hybrid = join(dir, 'same-as-a.tar');
    expect((await runCli('convert', archiveA, '-o', hybrid)).code).toBe(0);
    const out = join(dir, 'same-merged.tar');
    const r = await runCli('merge', archiveA, hybrid, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(await ids(out)).toEqual([[a.config.digest, ['docker.io/library/busybox:latest', 'docker.io/library/mybusybox:1']]]);
  });
});

describe('artifacts travel with their image', () => {
  it('a referrer (signature) is kept by convert and split, and dropped with its image', async () => {
    const sigConfig = Buffer.from('{}');
    const sigLayer = Buffer.from('signature bytes');
    const sig = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      config: { mediaType: MediaType.ociEmpty, digest: sha256(sigConfig), size: 2 },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sha256(sigLayer), size: sigLayer.length }],
      subject: { mediaType: MediaType.ociManifest, digest: b.manifest.digest, size: b.manifest.data.length },
    }));
    const other = await buildImage({ names: ['other:1'], layers: [{ files: { o: 'o' } }] });
    const entries = ociEntries([b, other], { refNameStyle: 'full', extraBlobs: [
      { digest: sha256(sigConfig), data: sigConfig, mediaType: MediaType.ociEmpty },
      { digest: sha256(sigLayer), data: sigLayer, mediaType: 'x' },
      { digest: sha256(sig), data: sig, mediaType: MediaType.ociManifest },
    ] });
    const indexEntry = entries.find((e) => e.name === 'index.json') as { name: string; data: Buffer };
    const index = JSON.parse(indexEntry.data.toString());
    index.manifests.push({ mediaType: MediaType.ociManifest, digest: sha256(sig), size: sig.length, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' });
    indexEntry.data = Buffer.from(JSON.stringify(index));
    const signed = writeTemp(dir, 'signed.tar', await tarBuffer(entries));
    const artifactsOf = async (p: string) => (await runCli('inspect', p, '--json')).json().artifacts.map((x: { digest: string; refersTo: string }) => [x.digest, x.refersTo]);
    expect(await artifactsOf(signed)).toEqual([[sha256(sig), b.manifest.digest]]);

    const converted = join(dir, 'signed-conv.tar');
    expect((await runCli('convert', signed, '-o', converted)).code).toBe(0);
    expect(await artifactsOf(converted)).toEqual([[sha256(sig), b.manifest.digest]]);
    expect((await runCli('verify', converted)).code).toBe(0);

    const parts = join(dir, 'signed-parts');
    expect((await runCli('split', signed, '-o', parts)).code).toBe(0);
    expect(await artifactsOf(join(parts, 'quay.io_team_b_2.tar'))).toEqual([[sha256(sig), b.manifest.digest]]);
    expect(await artifactsOf(join(parts, 'other_1.tar'))).toEqual([]);

    const onlyOther = join(dir, 'only-other.tar');
    expect((await runCli('convert', signed, '--image', 'other:1', '-o', onlyOther)).code).toBe(0);
    expect(await artifactsOf(onlyOther)).toEqual([]);
  });
});
