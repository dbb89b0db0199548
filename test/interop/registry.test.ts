/**
 * Pull from a real registry (distribution 2.8, ../shared/tools/realtools/start-registry.sh) what
 * skopeo pushed there: the same image IDs, diffIDs and manifest digests; a multi-arch index
 * survives whole; into the store too.
 */
import { spawnSync } from 'node:child_process';
import { resolve, join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdirSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { REALTOOLS, realToolsAvailable } from '../helpers/realtools.js';
import { SHARED, sharedAvailable } from '../helpers/shared.js';

const available = sharedAvailable() && realToolsAvailable();
const REG = '127.0.0.1:5000';
const work = join(tmpdir(), `imgpack-registry-${process.pid}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));
const skopeo = (...args: string[]) => spawnSync('skopeo', args, { encoding: 'utf8', timeout: 120_000 });

describe.skipIf(!available)('pull from a real registry', () => {
  beforeAll(() => {
    mkdirSync(work, { recursive: true });
    expect(spawnSync('bash', [resolve(REALTOOLS, 'start-registry.sh')]).status).toBe(0);
    expect(skopeo('copy', '-q', '--dest-tls-verify=false', `docker-archive:${resolve(SHARED, 'fixtures/realtools/docker-legacy/app.tar')}`, `docker://${REG}/pulltest/app:1`).status).toBe(0);
    expect(skopeo('copy', '-q', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci-archive:${resolve(SHARED, 'fixtures/realtools/buildah/multiarch.oci.tar')}`, `docker://${REG}/pulltest/multi:list`).status).toBe(0);
  });

  it('gives the images skopeo pushed, digests identical, the index whole', async () => {
    const out = join(work, 'pulled.tar');
    const r = await runCli('pull', '--all-platforms', `${REG}/pulltest/app:1`, `${REG}/pulltest/multi:list`, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    const doc = (await runCli('inspect', out, '--json')).json();
    const byName = (n: string) => doc.images.filter((i: { repoTags: string[] }) => i.repoTags.includes(n));
    expect(byName(`${REG}/pulltest/app:1`).map((i: { id: string }) => i.id)).toEqual(['sha256:348deefea9a456fb33953caa6882b44baab9d496c6ffade030baff7a63659560']);
    expect(byName(`${REG}/pulltest/multi:list`).map((i: { id: string }) => i.id.slice(7, 19)).sort()).toEqual(['3f08b1abf752', '4485807840ac', 'd665e71fa20e']);
    const remote = JSON.parse(skopeo('inspect', '--raw', '--tls-verify=false', `docker://${REG}/pulltest/app:1`).stdout);
    const manifestDigest = 'sha256:' + (await import('node:crypto')).createHash('sha256').update(skopeo('inspect', '--raw', '--tls-verify=false', `docker://${REG}/pulltest/app:1`).stdout).digest('hex');
    expect(byName(`${REG}/pulltest/app:1`)[0].manifestDigests).toEqual([manifestDigest]);
    expect(remote.layers.length).toBe(5);
    expect(doc.indexes.length).toBe(1);
    expect((await runCli('verify', out)).code).toBe(0);
  });

  it('pulls only this host\'s platform of an index by default, as docker pull, or the one asked for', async () => {
    const host = join(work, 'host.tar');
    expect((await runCli('pull', `${REG}/pulltest/multi:list`, '-o', host)).code).toBe(0);
    const images = (await runCli('inspect', host, '--json')).json().images;
    const plat = (i: { platform: { os: string; architecture: string } }) => `${i.platform.os}/${i.platform.architecture}`;
    expect(images.map(plat)).toEqual(['linux/amd64']);
    const arm = join(work, 'arm.tar');
    expect((await runCli('pull', '--platform', 'linux/arm64', `${REG}/pulltest/multi:list`, '-o', arm)).code).toBe(0);
    expect((await runCli('inspect', arm, '--json')).json().images.map(plat)).toEqual(['linux/arm64']);
  });

  it('pulls into the store', async () => {
    const store = join(work, 'store');
    const r = await runCli('--store', store, 'pull', `${REG}/pulltest/app:1`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Pulled: ${REG}/pulltest/app:1\n`);
    expect((await runCli('--store', store, 'images', '--json')).json().images.map((i: { id: string }) => i.id)).toEqual(['sha256:348deefea9a456fb33953caa6882b44baab9d496c6ffade030baff7a63659560']);
  });
});

describe.skipIf(!available)('push to a real registry', () => {
  it('pushes, skopeo agrees, a second push uploads nothing, a pull gives the same digests', async () => {
    const src = resolve(SHARED, 'fixtures/realtools/docker-legacy/multi.tar');
    const first = await runCli('push', src, '--to', `${REG}/pushtest`, '--json');
    expect(first.code, first.stderr).toBe(0);
    const pushed = first.json().pushed as { names: string[]; uploaded: number }[];
    expect(pushed.flatMap((p) => p.names).sort()).toEqual([`${REG}/pushtest/imgpack/app2:1`, `${REG}/pushtest/imgpack/app:1`, `${REG}/pushtest/imgpack/app:latest`, `${REG}/pushtest/imgpack/base:1`]);
    const again = (await runCli('push', src, '--to', `${REG}/pushtest`, '--json')).json().pushed as { uploaded: number }[];
    expect(again.map((p) => p.uploaded)).toEqual(again.map(() => 0));
    const inspect = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${REG}/pushtest/imgpack/app:1`).stdout);
    const out = join(work, 'roundtrip.tar');
    expect((await runCli('pull', `${REG}/pushtest/imgpack/app:1`, '-o', out)).code).toBe(0);
    const img = (await runCli('inspect', out, '--json')).json().images[0];
    expect(img.id).toBe('sha256:348deefea9a456fb33953caa6882b44baab9d496c6ffade030baff7a63659560');
    expect(img.manifestDigests).toEqual([inspect.Digest]);
    expect(skopeo('copy', '-q', '--src-tls-verify=false', `docker://${REG}/pushtest/imgpack/app:1`, `oci:${join(work, 'sk')}:x`).status).toBe(0);
  });
});

describe.skipIf(!available)('copy between an archive and a registry', () => {
  it('pushes one image under a new name, and copies it back', async () => {
    const pushed = await runCli('copy', resolve(SHARED, 'fixtures/realtools/docker-legacy/multi.tar'), '--image', 'imgpack/app2:1', `docker://${REG}/copytest/app2:v9`);
    expect(pushed.code, pushed.stderr).toBe(0);
    const back = join(work, 'copied.tar');
    expect((await runCli('copy', `docker://${REG}/copytest/app2:v9`, back)).code).toBe(0);
    const img = (await runCli('inspect', back, '--json')).json().images[0];
    expect([img.id, img.repoTags]).toEqual(['sha256:96f5fd53bfe367bb48c2d7220a2d65c78c7432541015589863fd623b79439d48', [`${REG}/copytest/app2:v9`]]);
    expect((await runCli('copy', resolve(SHARED, 'fixtures/realtools/docker-legacy/multi.tar'), `docker://${REG}/copytest/x:1`)).code).toBe(1);
  });
});
