/**
 * What imgpack writes, loaded by the real consumers of ../shared/tools/realtools/accepts.sh
 * (docker 20.10, docker 26 classic and containerd store, podman, skopeo, umoci) with RT_STRICT=1,
 * and the names they show afterwards compared with the names imgpack wrote.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { familiarName } from '../../src/model/reference.js';
import { runCli } from '../helpers/cli.js';
import { accepts, realToolsAvailable } from '../helpers/realtools.js';
import { requireSharedInCi, SHARED, sharedAvailable } from '../helpers/shared.js';

requireSharedInCi();
const available = sharedAvailable() && realToolsAvailable();
if (!available && process.env.CI === 'true') throw new Error('the real tools are not installed: .ci/run runs ../shared/tools/realtools/install.sh first');

const F = (p: string) => resolve(SHARED, 'fixtures/realtools', p);
const C = (p: string) => resolve(SHARED, 'corpus', p);
// Lower case only: podman 4.3 parses an OCI layout's path as a reference.
const work = join(tmpdir(), `imgpack-interop-${process.pid}`);
mkdirSync(work, { recursive: true });
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

async function namesOf(path: string): Promise<string[]> {
  const doc = (await runCli('inspect', path, '--json')).json();
  return [...new Set<string>(doc.images.flatMap((i: { repoTags: string[] }) => i.repoTags))].sort();
}

/**
 * Every consumer accepts, and each shows the names imgpack wrote. An unnamed image gets an
 * index.json descriptor without names (CLI.md); skopeo 1.9 cannot address such an entry when
 * there are several, and says so with a WARN: that one warning is expected, nothing else.
 */
async function expectLoadable(path: string) {
  const unnamed = (await runCli('inspect', path, '--json')).json().images.filter((i: { repoTags: string[] }) => i.repoTags.length === 0).length;
  const result = accepts(path, unnamed === 0);
  const unexpected = [...result.consumers.entries()].flatMap(([c, vs]) => vs.filter((v) => v.verdict === 'REJECT' || (v.verdict === 'WARN' && !(c === 'skopeo' && /no unique ref.name/.test(v.detail)))));
  expect(unexpected, result.output).toEqual([]);
  if (unnamed === 0) expect(result.code, result.output).toBe(0);
  const names = await namesOf(path);
  const familiar = names.map(familiarName).sort();
  for (const docker of ['docker-legacy', 'docker-modern', 'docker-containerd']) {
    if (!result.consumers.get(docker)?.some((v) => v.verdict === 'ACCEPT')) continue;
    expect([...new Set(result.loaded(docker))].sort(), `${docker} names`).toEqual(familiar);
  }
  if (result.consumers.get('podman')?.some((v) => v.verdict === 'ACCEPT') && !path.endsWith('/')) {
    // Through index.json podman keeps the full name we wrote; through docker's manifest.json,
    // podman 4.3 files a familiar name that has no registry (imgpack/app:1, as docker save writes
    // it) under localhost/ (its convention for short names). Each name must show in one of the two
    // forms, and podman must show nothing else. (An OCI layout directory podman names after its
    // path, whatever index.json says: not checked.)
    const loaded = new Set(result.loaded('podman'));
    const podmanForms = (n: string) => [n, `localhost/${familiarName(n)}`];
    for (const name of names) expect(podmanForms(name).some((f) => loaded.has(f)), `podman shows ${name}`).toBe(true);
    for (const l of loaded) expect(names.some((n) => podmanForms(n).includes(l)), `podman's ${l} is one of ours`).toBe(true);
  }
  return result;
}

async function convert(src: string, format: string, ext = format === 'oci-layout' ? '/' : '.tar', extra: string[] = []) {
  const out = join(work, `${n++}-${format}${ext}`);
  const r = await runCli('convert', src, '--format', format, '-o', out, ...extra);
  expect(r.code, r.stderr).toBe(0);
  return out;
}

describe.skipIf(!available)('real consumers load what imgpack writes', () => {
  const hybridSources = [
    F('docker-legacy/multi.tar'), F('docker-modern/multi.tar'), F('podman/multi.docker.tar'), F('docker-containerd/multi.tar'),
    F('docker-containerd/multiarch.tar'), F('buildkit/multiplatform-attest.oci.tar'), F('buildkit/app-zstd.oci.tar'),
    F('skopeo/app-mislabeled-uncompressed.oci-dir'), F('skopeo/two-images.oci-dir'), F('umoci/layout'), F('buildah/multiarch-v2s2.oci-dir'),
    F('docker-legacy/app.tar.xz'), C('dive/test-kaniko-image.tar'), C('jib/jib-image.tar'), C('snyk/containerd-archives/busybox-single-arch-with-attestation-manifest.tar'),
  ];
  for (const src of hybridSources) {
    it(`convert ${src.split('/').slice(-2).join('/')} -> hybrid`, async () => {
      await expectLoadable(await convert(src, 'hybrid'));
    });
  }

  for (const src of [F('docker-modern/multi.tar'), F('buildkit/app-zstd.oci.tar'), F('podman/app.oci.tar'), F('buildah/multiarch.oci.tar')]) {
    it(`convert ${src.split('/').slice(-2).join('/')} -> docker-archive`, async () => {
      await expectLoadable(await convert(src, 'docker-archive'));
    });
  }

  for (const [src, format] of [[F('podman/app.docker.tar'), 'oci-archive'], [F('docker-legacy/app.tar'), 'oci-archive'], [F('docker-modern/app.tar'), 'oci-layout'], [F('docker-legacy/multi.tar'), 'oci-archive']]) {
    it(`convert ${src.split('/').slice(-2).join('/')} -> ${format}`, async () => {
      await expectLoadable(await convert(src, format));
    });
  }

  it('a gzip-wrapped hybrid and recompressed layers', async () => {
    await expectLoadable(await convert(F('docker-legacy/app.tar'), 'hybrid', '.tar.gz'));
    await expectLoadable(await convert(F('podman/app.oci.tar'), 'hybrid', '.tar', ['--layers', 'uncompressed']));
    await expectLoadable(await convert(F('docker-legacy/multi.tar'), 'hybrid', '.tar', ['--layers', 'gzip']));
  });

  it('merge of several real archives, then split', async () => {
    const merged = join(work, 'merged.tar');
    const r = await runCli('merge', F('docker-legacy/multi.tar'), F('podman/multi.docker.tar'), F('buildkit/app.oci.tar'), F('skopeo/app-zstd.oci-dir'), F('buildah/multiarch.oci.tar'), '-o', merged);
    expect(r.code, r.stderr).toBe(0);
    await expectLoadable(merged);
    const parts = join(work, 'parts');
    expect((await runCli('split', merged, '-o', parts)).code).toBe(0);
    const files = readdirSync(parts);
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const f of files) await expectLoadable(join(parts, f));
  });

  it('tag, untag and retag in place', async () => {
    const file = join(work, 'renamed.tar');
    copyFileSync(F('docker-legacy/multi.tar'), file);
    expect((await runCli('tag', file, 'imgpack/app:1', 'mirror.local:5000/team/app:1.0', 'app:stable')).code).toBe(0);
    expect((await runCli('tag', file, '96f5fd53bfe3', 'mybusybox:latest')).code).toBe(0);
    expect((await runCli('untag', file, 'imgpack/app:latest')).code).toBe(0);
    expect(await namesOf(file)).toEqual(['docker.io/imgpack/app2:1', 'docker.io/imgpack/app:1', 'docker.io/imgpack/base:1', 'docker.io/library/app:stable', 'docker.io/library/mybusybox:latest', 'mirror.local:5000/team/app:1.0']);
    await expectLoadable(file);
    expect((await runCli('retag', file, '--replace-prefix', 'docker.io/imgpack/=registry.local:5000/imgpack/', '--replace-prefix', 'docker.io/library/=registry.local:5000/library/')).code).toBe(0);
    await expectLoadable(file);
  });

  // Issue 16: zstd layers. docker 20.10 cannot read them ("invalid tar header"), and imgpack warns
  // once when it writes them into a hybrid or docker-archive; umoci 0.4.7 skips zstd layers.
  // Every other consumer loads them, and the image IDs (configs, so diffIDs) are unchanged.
  it('--layers zstd: docker 26 (both stores), podman and skopeo load it, diffIDs unchanged', async () => {
    // podman 4.3 loads an OCI archive of one image only.
    for (const [format, ext, src] of [['hybrid', '.tar', F('docker-legacy/multi.tar')], ['oci-archive', '.tar', F('docker-legacy/app.tar')]]) {
      const before = (await runCli('inspect', src, '--json')).json().images;
      const out = join(work, `${n++}-zstd-${format}${ext}`);
      const r = await runCli('convert', src, '--format', format, '-o', out, '--layers', 'zstd');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.includes('docker 20.10 cannot load it')).toBe(format === 'hybrid');
      const after = (await runCli('inspect', out, '--json')).json().images;
      expect(after.map((i: { id: string }) => i.id)).toEqual(before.map((i: { id: string }) => i.id));
      expect(after.flatMap((i: { layers: { diffId: string }[] }) => i.layers.map((l) => l.diffId))).toEqual(before.flatMap((i: { layers: { diffId: string }[] }) => i.layers.map((l) => l.diffId)));
      expect(after.flatMap((i: { layers: { mediaType: string }[] }) => i.layers.map((l) => l.mediaType)).every((m: string) => m.endsWith('+zstd'))).toBe(true);
      const result = accepts(out, false);
      const verdict = (c: string) => result.consumers.get(c)?.map((v) => v.verdict) ?? [];
      for (const c of ['docker-containerd', 'podman', 'skopeo']) expect(verdict(c), `${c}\n${result.output}`).toContain('ACCEPT');
      if (format === 'hybrid') {
        expect(verdict('docker-modern'), result.output).toContain('ACCEPT');
        expect(verdict('docker-legacy'), result.output).toContain('REJECT');
      }
      expect(verdict('umoci').filter((v) => v === 'REJECT'), result.output).toEqual([]);
    }
  });
});
