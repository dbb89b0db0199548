/**
 * Issue 13: mistakes that used to go unnoticed. A command that only reads the store never creates
 * one (item 14): a mistyped --store used to create an empty store that `verify store:` then
 * called OK.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();

describe('reading commands never create a store', () => {
  it('images, verify store:, inspect store:, save and prune say there is no store (exit 2) and create nothing', async () => {
    const missing = join(dir, 'typo-store');
    for (const args of [['images'], ['verify', 'store:'], ['inspect', 'store:'], ['save', 'app:1', '-o', join(dir, 'out.tar')], ['prune']]) {
      const r = await runCli('--store', missing, ...args);
      expect([args[0], r.code, r.stderr]).toEqual([args[0], 2, `imgpack: no store at ${missing}\n`]);
      expect(existsSync(missing), args[0]).toBe(false);
    }
  });

  it('load creates the store it adds to', async () => {
    const store = join(dir, 'new-store');
    const r = await runCli('--store', store, 'load', '-i', new URL('../../samples/tool.oci.tar', import.meta.url).pathname);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(store, 'index.json'))).toBe(true);
    expect((await runCli('--store', store, 'verify', 'store:')).code).toBe(0);
  });
});

describe('mistakes that wrote nothing useful and said OK', () => {
  const sample = new URL('../../samples/tool.oci.tar', import.meta.url).pathname;

  it('retag whose prefixes match no name writes nothing and exits 1, listing the names (issue 13 item 10)', async () => {
    const out = join(dir, 'retagged.tar');
    const r = await runCli('retag', sample, '--replace-prefix', 'docker.io/imgpack/=registry.local/imgpack/', '-o', out);
    expect([r.code, r.stderr]).toEqual([1, `imgpack: no name matches docker.io/imgpack/; the names are quay.io/imgpack/tool:2 (full references: name the registry) (${sample})\n`]);
    expect(existsSync(out)).toBe(false);
  });

  it('inspect of an input with no image and problems exits 1 and still prints what it found (issue 13 item 15)', async () => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const layout = join(dir, 'broken-layout');
    mkdirSync(layout);
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 10 }] }));
    const r = await runCli('inspect', layout);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${layout}: oci-layout, 0 images\n`);
    expect(r.stderr).toMatch(/^problem: index.json manifests\[0\] references a blob that is missing/);
    expect((await runCli('inspect', sample)).code).toBe(0);
  });
});

describe('-o - is standard output (issue 13 item 6)', () => {
  it('export and join write to standard output, and no file named -', async () => {
    const { spawnSync } = await import('node:child_process');
    const { readFileSync, readdirSync } = await import('node:fs');
    const { cliArgv } = await import('../helpers/spawn.js');
    const sample = new URL('../../samples/tool.oci.tar', import.meta.url).pathname;
    const work = join(dir, 'stdout');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(work);
    const exported = spawnSync(process.execPath, cliArgv('export', sample, '-o', '-'), { cwd: work, maxBuffer: 1 << 26 });
    expect(exported.status, exported.stderr.toString()).toBe(0);
    expect(exported.stdout.subarray(257, 262).toString()).toBe('ustar'); // a tar on standard output
    expect((await runCli('convert', sample, '-o', join(work, 'b.tar'), '--volume-size', '1M')).code).toBe(0);
    const joined = spawnSync(process.execPath, cliArgv('join', join(work, 'b.tar.001'), '-o', '-'), { cwd: work, maxBuffer: 1 << 26 });
    expect(joined.status, joined.stderr.toString()).toBe(0);
    expect(joined.stdout.equals(readFileSync(join(work, 'b.tar.001')))).toBe(true);
    expect(readdirSync(work).sort()).toEqual(['b.tar.001', 'b.tar.imgpack.json']);
  });
});

describe('an output name\'s extension never lies (issue 13 item 7)', () => {
  const sample = new URL('../../samples/tool.oci.tar', import.meta.url).pathname;
  it('.gz alone gzips (docker save -o images.gz), .tar.zst zstd; .tar.xz and .tar.bz2 are refused; --compress overrides', async () => {
    const { readFileSync } = await import('node:fs');
    const magic = (p: string) => readFileSync(p).subarray(0, 4).toString('hex');
    expect((await runCli('convert', sample, '-o', join(dir, 'images.gz'))).code).toBe(0);
    expect(magic(join(dir, 'images.gz')).slice(0, 4)).toBe('1f8b');
    expect((await runCli('convert', sample, '-o', join(dir, 'images.tar.zst'))).code).toBe(0);
    expect(magic(join(dir, 'images.tar.zst'))).toBe('28b52ffd');
    for (const ext of ['tar.xz', 'tar.bz2']) {
      const out = join(dir, `images.${ext}`);
      const r = await runCli('convert', sample, '-o', out);
      expect([r.code, r.stderr]).toEqual([2, `imgpack: imgpack cannot write .${ext.slice(4)} compression: name the output .tar, .tar.gz (or .tgz, .gz) or .tar.zst, or give --compress none|gzip|zstd (${out})\n`]);
      expect(existsSync(out)).toBe(false);
    }
    expect((await runCli('convert', sample, '-o', join(dir, 'plain.tar.xz'), '--compress', 'none')).code).toBe(0);
    expect((await runCli('verify', join(dir, 'images.gz'))).code).toBe(0);
  });
});

describe('tag, untag and retag -o keep the source\'s format (issue 13 item 8)', () => {
  it('a docker-archive stays a docker-archive, an oci-archive an oci-archive; --format still chooses', async () => {
    for (const [file, format] of [['web.docker.tar', 'docker-archive'], ['tool.oci.tar', 'oci-archive']]) {
      const sample = new URL(`../../samples/${file}`, import.meta.url).pathname;
      const name = (await runCli('inspect', sample, '--json')).json().images[0].repoTags[0];
      const out = join(dir, `tagged-${file}`);
      expect((await runCli('tag', sample, name, 'docker.io/library/extra:1', '-o', out)).code).toBe(0);
      expect((await runCli('inspect', out, '--json')).json().format).toBe(format);
      const retagged = join(dir, `retagged-${file}`);
      expect((await runCli('retag', sample, '--replace-prefix', `${name.split('/')[0]}/=registry.local/`, '-o', retagged)).code).toBe(0);
      expect((await runCli('inspect', retagged, '--json')).json().format).toBe(format);
    }
    const sample = new URL('../../samples/tool.oci.tar', import.meta.url).pathname;
    const chosen = join(dir, 'chosen.tar');
    expect((await runCli('untag', sample, 'quay.io/imgpack/tool:2', '-o', chosen, '--format', 'hybrid')).code).toBe(0);
    expect((await runCli('inspect', chosen, '--json')).json().format).toBe('hybrid');
  });
});

describe('merge --prefer (issue 13 item 11)', () => {
  it('drops the image that lost its only name, and keeps one that another name still holds', async () => {
    const { buildImage, dockerArchiveEntries, tarBuffer } = await import('../../src/testing/build.js');
    const { writeTemp } = await import('../helpers/tmp.js');
    const oldApp = await buildImage({ names: ['team/app:1'], layers: [{ files: { v: 'old' } }] }, 'docker');
    const newApp = await buildImage({ names: ['team/app:1'], layers: [{ files: { v: 'new' } }] }, 'docker');
    const kept = await buildImage({ names: ['team/app:1', 'team/app:old'], layers: [{ files: { v: 'kept' } }] }, 'docker');
    const a = writeTemp(dir, 'merge-a.tar', await tarBuffer(dockerArchiveEntries([oldApp])));
    const b = writeTemp(dir, 'merge-b.tar', await tarBuffer(dockerArchiveEntries([newApp])));
    const c = writeTemp(dir, 'merge-c.tar', await tarBuffer(dockerArchiveEntries([kept])));
    const out = join(dir, 'merged.tar');
    expect((await runCli('merge', a, b, '--prefer', 'last', '-o', out)).code).toBe(0);
    const images = (await runCli('inspect', out, '--json')).json().images as { id: string; repoTags: string[] }[];
    expect(images.map((i) => [i.id, i.repoTags])).toEqual([[newApp.config.digest, ['docker.io/team/app:1']]]);
    const out2 = join(dir, 'merged2.tar');
    expect((await runCli('merge', c, b, '--prefer', 'last', '-o', out2)).code).toBe(0);
    const images2 = (await runCli('inspect', out2, '--json')).json().images as { id: string; repoTags: string[] }[];
    expect(images2.map((i) => [i.id, i.repoTags]).sort()).toEqual([[kept.config.digest, ['docker.io/team/app:old']], [newApp.config.digest, ['docker.io/team/app:1']]].sort());
  });
});

describe('save NAME:TAG writes only the names asked for, as docker save (issue 13 item 5)', () => {
  it('app:1 carries app:1 only; app every tag of app; an ID no name; convert --image the same', async () => {
    const store = join(dir, 'names-store');
    const sample = new URL('../../samples/web.docker.tar', import.meta.url).pathname; // imgpack/web:1.0 and :latest are one image
    expect((await runCli('--store', store, 'load', '-i', sample)).code).toBe(0);
    const id = ((await runCli('--store', store, 'images', '--json')).json().images as { name: string; id: string }[]).find((i) => i.name.endsWith('web:1.0'))!.id;
    const names = async (...sel: string[]) => {
      const out = join(dir, `names-${sel.join('-').replace(/\W/g, '_')}.tar`);
      const r = await runCli('--store', store, 'save', ...sel, '-o', out);
      expect(r.code, r.stderr).toBe(0);
      return ((await runCli('inspect', out, '--json')).json().images as { repoTags: string[] }[]).flatMap((i) => i.repoTags).sort();
    };
    expect(await names('imgpack/web:1.0')).toEqual(['docker.io/imgpack/web:1.0']);
    expect(await names('imgpack/web')).toEqual(['docker.io/imgpack/web:1.0', 'docker.io/imgpack/web:latest']);
    expect(await names(id.slice(7, 19))).toEqual([]);
    const out = join(dir, 'converted-names.tar');
    expect((await runCli('convert', sample, '--image', 'imgpack/web:latest', '-o', out)).code).toBe(0);
    expect((await runCli('inspect', out, '--json')).json().images.flatMap((i: { repoTags: string[] }) => i.repoTags)).toEqual(['docker.io/imgpack/web:latest']);
  });
});

describe('one image out of a multi-platform index (issue 13 item 9)', () => {
  it('export, diff and commit take --platform, default this host\'s; the error lists the platforms with their IDs', async () => {
    const { buildImage, ociEntries, sha256, tarBuffer } = await import('../../src/testing/build.js');
    const { MediaType } = await import('../../src/model/media-types.js');
    const { hostPlatform } = await import('../../src/model/oci.js');
    const { writeTemp } = await import('../helpers/tmp.js');
    const host = hostPlatform();
    const other = host.architecture === 'arm64' ? 'amd64' : 'arm64';
    const here = await buildImage({ architecture: host.architecture, layers: [{ files: { m: host.architecture } }] });
    const there = await buildImage({ architecture: other, layers: [{ files: { m: other } }] });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [here, there].map((i) => ({ mediaType: MediaType.ociManifest, digest: i.manifest.digest, size: i.manifest.data.length, platform: { os: 'linux', architecture: i.spec.architecture ?? 'amd64' } })) }));
    const top = { schemaVersion: 2, manifests: [{ mediaType: MediaType.ociIndex, digest: sha256(index), size: index.length, annotations: { 'io.containerd.image.name': 'docker.io/team/multi:1' } }] };
    const multi = writeTemp(dir, 'multi.tar', await tarBuffer(ociEntries([here, there], { index: top, extraBlobs: [{ digest: sha256(index), data: index, mediaType: MediaType.ociIndex }] })));
    const readM = async (args: string[]) => {
      const out = join(dir, `exp-${args.join('-').replace(/\W/g, '_')}.tar`);
      const r = await runCli('export', multi, ...args, '-o', out);
      expect(r.code, r.stderr).toBe(0);
      const { execFileSync } = await import('node:child_process');
      return execFileSync('tar', ['xOf', out, 'm'], { encoding: 'utf8' });
    };
    expect(await readM([])).toBe(host.architecture);
    expect(await readM(['--platform', `linux/${other}`])).toBe(other);
    const none = await runCli('export', multi, '--platform', 'linux/s390x', '-o', join(dir, 'none.tar'));
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`none is for linux/s390x: choose one with --platform or --image`);
    expect(none.stderr).toContain(`linux/${other} ${there.config.digest.slice(7, 19)}`);
    const diff = await runCli('diff', multi, multi, '--platform-b', `linux/${other}`, '--json');
    expect(diff.code, diff.stderr).toBe(0);
    const committed = join(dir, 'committed.tar');
    expect((await runCli('commit', multi, '--platform', `linux/${other}`, '-c', 'ENV X=1', '-t', 'team/c:1', '-o', committed)).code).toBe(0);
    expect((await runCli('inspect', committed, '--json')).json().images[0].platform.architecture).toBe(other);
  });
});
