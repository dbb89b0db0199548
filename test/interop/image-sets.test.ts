/**
 * Image sets end to end against the real distribution registry (Debian's docker-registry 2.8),
 * started here on a free loopback port, with a repository of 20 tags, most of them
 * multi-platform indexes: semver, regex and latest filters; platforms; a lock that keeps the
 * bytes of the first run when a tag moved before the second (reported); keep-going with a
 * missing image and an unreachable registry, then a retry of exactly those; a retry of an image
 * whose blob the registry lost; the one progress display; copy -f into the registry, checked by
 * skopeo.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, type BuiltBlob, type BuiltImage } from '../../src/testing/build.js';
import { formatPlatform, type Platform } from '../../src/model/oci.js';
import { pushImage, pushIndex } from '../../src/testing/seed-registry.js';
import { runCli } from '../helpers/cli.js';
import { freePort, startDistribution, type Distribution } from '../helpers/distribution.js';
import { cliArgv } from '../helpers/spawn.js';

const available = spawnSync('sh', ['-c', 'command -v docker-registry && command -v skopeo'], { stdio: 'ignore' }).status === 0;
const work = join(tmpdir(), `imgpack-image-sets-${process.pid}`);
let reg: Distribution;
let host = '';
/** 20 tags: versions (one with a v, a pre-release, two-part ones) and names. */
const TAGS = ['1.24.0', '1.24.1', '1.25.0', '1.25.1', '1.25.2', '1.25.3', '1.25', '1.25-alpine', '1.26.0', '1.26.1', '1.26.2', '1.26', '1.27.0-rc1', '1.27.0', 'v1.28.0', '2.0.0', 'latest', 'stable', 'edge', 'nightly'];
const indexes = new Map<string, BuiltBlob>();
const images = new Map<string, BuiltImage[]>();
const base = { files: { 'etc/os-release': 'base '.repeat(5000) }, compression: 'gzip' as const };

async function platformsOf(tag: string, salt = ''): Promise<BuiltImage[]> {
  return [
    await buildImage({ layers: [base, { files: { version: `${tag}${salt} amd64` } }] }),
    await buildImage({ layers: [base, { files: { version: `${tag}${salt} arm64` } }], architecture: 'arm64' }),
    await buildImage({ layers: [base, { files: { version: `${tag}${salt} arm v7` } }], architecture: 'arm', variant: 'v7' }),
  ];
}

beforeAll(async () => {
  if (!available) return;
  reg = await startDistribution(join(work, 'registry'));
  host = reg.host;
  for (const tag of TAGS) {
    const imgs = await platformsOf(tag);
    images.set(tag, imgs);
    indexes.set(tag, await pushIndex(host, 'lib/web', tag, imgs));
  }
  await pushImage(host, 'lib/tool', '1', await buildImage({ layers: [base, { files: { tool: '1' } }] }));
  process.env.IMGPACK_CACHE = join(work, 'cache');
}, 300_000);
afterAll(async () => {
  delete process.env.IMGPACK_CACHE;
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const file = (name: string, text: string) => {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
};
const sha256 = (p: string) => `sha256:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
interface Img { id: string; platform: Platform; manifestDigests: string[]; repoTags: string[] }
const inspect = async (p: string) => (await runCli('inspect', p, '--json')).json() as { images: Img[]; indexes: { digest: string }[] };

describe.skipIf(!available)('image sets against the real distribution registry', () => {
  it('picks tags by semver, regex and latest from a tag list of 20', async () => {
    const set = file('filters.yaml', [
      'images:',
      `  - ref: ${host}/lib/web`,
      '    tags: {semver: ">=1.25 <1.27"}',
      `  - ref: ${host}/lib/web`,
      "    tags: {regex: '^1\\.2[4-5]$|alpine'}",
      `  - ref: ${host}/lib/web`,
      '    tags: {latest: 2}',
      `  - ref: ${host}/lib/web`,
      '    tags: {semver: ">=1", latest: 3}',
    ].join('\n') + '\n');
    const r = await runCli('pull', '-f', set, '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    const refs = r.json().images.map((i: { reference: string }) => i.reference.slice(`${host}/lib/web:`.length));
    // semver: 1.25.0-1.26.2 (not 1.25, 1.26, 1.25-alpine, 1.27.0-rc1); regex: 1.25, 1.25-alpine;
    // latest 2: 2.0.0, v1.28.0; semver >=1 latest 3: 2.0.0, v1.28.0, 1.27.0. Each once, sorted.
    expect(refs).toEqual(['1.25', '1.25-alpine', '1.25.0', '1.25.1', '1.25.2', '1.25.3', '1.26.0', '1.26.1', '1.26.2', '1.27.0', '2.0.0', 'v1.28.0']);
    const one = r.json().images.find((i: { reference: string }) => i.reference.endsWith(':1.26.1'));
    expect(one.digest).toBe(indexes.get('1.26.1')!.digest);
  });

  it('takes the platforms each entry names, the set default for the others, and says when one is absent', async () => {
    const set = file('platforms.yaml', [
      'images:',
      `  - ref: ${host}/lib/web:1.26.0`,
      '    platforms: [linux/arm64, linux/arm/v7]',
      `  - ref: ${host}/lib/web:1.26.1`,
      `  - ref: ${host}/lib/web:1.26.2`,
      '    platforms: [linux/arm64, linux/s390x]',
      `  - ${host}/lib/tool:1`,
      'platforms: [linux/amd64]',
    ].join('\n') + '\n');
    const out = join(work, 'platforms/');
    const r = await runCli('pull', '-f', set, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`note: ${host}/lib/web:1.26.2 has no linux/s390x; taking linux/arm64`);
    const got = (await inspect(out)).images.map((i) => [i.repoTags[0].split(':').pop(), formatPlatform(i.platform)]).sort();
    expect(got).toEqual([['1', 'linux/amd64'], ['1.26.0', 'linux/arm/v7'], ['1.26.0', 'linux/arm64'], ['1.26.1', 'linux/amd64'], ['1.26.2', 'linux/arm64']]);
    const wrong = await runCli('pull', '-f', file('wrong.yaml', `images:\n  - ref: ${host}/lib/tool:1\n    platforms: [linux/arm64]\n`), '--dry-run');
    expect([wrong.code, wrong.stderr]).toEqual([1, `imgpack: the image is for linux/amd64 only, not linux/arm64 (${host}/lib/tool:1)\n`]);
  });

  it('a lock keeps the first run\'s bytes when a tag moved before the second, and says so', async () => {
    const set = file('cluster.yaml', `images:\n  - ref: ${host}/lib/web\n    tags: {semver: "~1.25"}\n    platforms: [linux/amd64, linux/arm64]\n`);
    const lock = join(work, 'week1.lock');
    const first = await runCli('pull', '-f', set, '--lock', lock, '-o', join(work, 'week1.tar'));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`Lock ${lock}: 4 images, written`);
    const lockSha = sha256(lock);

    // A week later, 1.25.3 is rebuilt and pushed again under the same tag; 1.25.4 appears.
    const rebuilt = await pushIndex(host, 'lib/web', '1.25.3', await platformsOf('1.25.3', ' rebuilt'));
    await pushIndex(host, 'lib/web', '1.25.4', await platformsOf('1.25.4'));
    const second = await runCli('pull', '-f', set, '--lock', lock, '-o', join(work, 'week2.tar'));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`note: ${host}/lib/web:1.25.3 now points at ${rebuilt.digest.slice(7, 19)}; the lock keeps ${indexes.get('1.25.3')!.digest.slice(7, 19)}, which is what is fetched`);
    expect(second.stderr).toContain(`Lock ${lock}: 4 images, unchanged (${lockSha})`);
    expect(sha256(lock)).toBe(lockSha);
    const digestsOf = async (p: string) => (await inspect(p)).images.map((i) => `${i.repoTags[0]} ${i.manifestDigests[0]}`).sort();
    expect(await digestsOf(join(work, 'week2.tar'))).toEqual(await digestsOf(join(work, 'week1.tar')));
    const old = images.get('1.25.3')!.map((i) => i.manifest.digest);
    expect((await inspect(join(work, 'week2.tar'))).images.filter((i) => i.repoTags[0].endsWith(':1.25.3')).map((i) => i.manifestDigests[0]).sort()).toEqual(old.slice(0, 2).sort());

    // On the far side: the bundle holds exactly what the lock names, and was made from it.
    const v = await runCli('verify', join(work, 'week2.tar'), '--lock', lock, '--json');
    expect(v.code, v.stdout).toBe(0);
    expect(v.json().lock).toMatchObject({ ok: true, sha256: lockSha, madeFrom: lockSha, missing: [], different: [], extra: [] });
    // Without the lock, a run resolves anew: the rebuilt 1.25.3 and the new 1.25.4; the old lock no longer matches.
    writeFileSync(join(work, 'cluster.lock'), readFileSync(lock));
    const fresh = await runCli('pull', '-f', set, '-o', join(work, 'fresh.tar'));
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stderr).toContain(`note: ${join(work, 'cluster.lock')} replaced, resolved anew: 1 changed (${host}/lib/web:1.25.3), 1 added (${host}/lib/web:1.25.4); --lock ${join(work, 'cluster.lock')} fetches what a lock pins`);
    const against = await runCli('verify', join(work, 'fresh.tar'), '--lock', lock);
    expect(against.code).toBe(1);
    expect(against.stderr).toContain(`problem: different: linux/amd64, linux/arm64 are not the locked manifests; the lock names ${indexes.get('1.25.3')!.digest}`);
    expect(against.stderr).toContain(`problem: extra: in the bundle (`);
    expect(against.stderr).toContain(`(${host}/lib/web:1.25.4)`);
    expect(against.stderr).toMatch(/warning: the transfer manifest says the bundle was made from lock sha256:[0-9a-f]{64}, not this one/);
  });

  it('keep-going: a missing image and an unreachable registry are reported, the rest is fetched, and a retry fetches exactly those', async () => {
    const closed = await freePort();
    const set = file('mixed.txt', [`${host}/lib/web:1.24.0`, `${host}/lib/absent:1`, `127.0.0.1:${closed}/lib/web:1`, `${host}/lib/tool:1`].join('\n') + '\n');
    const store = join(work, 'store-mixed');
    const report = join(work, 'mixed-failed.json');
    const r = await runCli('--store', store, 'pull', '-f', set, '--keep-going', '--report', report);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toEqual([`Pulled: ${host}/lib/tool:1`, `Pulled: ${host}/lib/web:1.24.0`]);
    const failed = r.stderr.split('\n').filter((l) => l.startsWith('imgpack: failed: '));
    expect(failed).toEqual([
      `imgpack: failed: ${host}/lib/absent:1 (${host}): not found in the registry: manifests/1`,
      `imgpack: failed: 127.0.0.1:${closed}/lib/web:1 (127.0.0.1:${closed}): cannot reach the registry: connect ECONNREFUSED 127.0.0.1:${closed}`,
    ]);
    const doc = JSON.parse(readFileSync(report, 'utf8'));
    expect(doc.failures.map((f: { code: string; retry: unknown }) => [f.code, f.retry])).toEqual([
      ['registry-not-found', { ref: `${host}/lib/absent:1` }],
      ['registry-unreachable', { ref: `127.0.0.1:${closed}/lib/web:1` }],
    ]);

    // The missing image appears; the registry stays unreachable: the retry fetches the one, reports the other.
    const absent = await buildImage({ layers: [base, { files: { now: 'here' } }] });
    await pushImage(host, 'lib/absent', '1', absent);
    const again = join(work, 'mixed-failed-2.json');
    const retry = await runCli('--store', store, 'pull', '--retry', report, '--keep-going', '--report', again);
    expect(retry.code).toBe(1);
    expect(retry.stdout.trim()).toBe(`Pulled: ${host}/lib/absent:1`);
    expect(retry.stderr).toContain(`Fetched 1 of 1 image`);
    expect(JSON.parse(readFileSync(again, 'utf8')).failures.map((f: { reference: string }) => f.reference)).toEqual([`127.0.0.1:${closed}/lib/web:1`]);
    const lock = JSON.parse(readFileSync(join(work, 'mixed.lock'), 'utf8'));
    expect(lock.images.map((i: { reference: string }) => i.reference)).toEqual([`${host}/lib/absent:1`, `${host}/lib/tool:1`, `${host}/lib/web:1.24.0`]);
  });

  it('a retry of an image whose blob the registry lost fetches that image, pinned to the locked digest', async () => {
    const tag = '1.24.1';
    const set = file('lost.txt', `${host}/lib/web:${tag}\n${host}/lib/web:stable\n`);
    const store = join(work, 'store-lost');
    const lost = images.get(tag)![0].layers[1];
    const del = await fetch(`http://${host}/v2/lib/web/blobs/${lost.digest}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    const report = join(work, 'lost-failed.json');
    const r = await runCli('--store', store, 'pull', '-f', set, '--platform', 'linux/amd64', '--keep-going', '--report', report);
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toBe(`Pulled: ${host}/lib/web:stable`);
    const retryEntry = JSON.parse(readFileSync(report, 'utf8')).failures[0].retry;
    expect(retryEntry).toEqual({ ref: `${host}/lib/web:${tag}@${indexes.get(tag)!.digest}`, platforms: ['linux/amd64'], pinned: true });
    // Whoever pushed it pushes it again (same bytes); the tag meanwhile moved: the retry still takes the locked digest.
    await pushImage(host, 'lib/web', undefined, images.get(tag)![0]);
    await pushIndex(host, 'lib/web', tag, await platformsOf(tag, ' moved'));
    const retry = await runCli('--store', store, 'pull', '--retry', report);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout.trim()).toBe(`Pulled: ${host}/lib/web:${tag}`);
    const listed = (await runCli('--store', store, 'images', '--digests', '--json')).json().images as { tag: string; digest: string | null; id: string }[];
    expect(listed.find((i) => i.tag === tag)?.id).toBe(images.get(tag)![0].config.digest);
  });

  it('copies a set into the registry with every platform, indexes byte for byte (skopeo agrees)', async () => {
    const set = file('mirror.yaml', `images:\n  - ref: ${host}/lib/web\n    tags: [1.26.0, 2.0.0]\n  - ${host}/lib/tool:1\n`);
    const r = await runCli('copy', '-f', set, `docker://${host}/mirror/`);
    expect(r.code, r.stderr).toBe(0);
    for (const tag of ['1.26.0', '2.0.0']) {
      const sk = spawnSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/mirror/lib/web:${tag}`], { encoding: 'utf8', timeout: 60_000 });
      expect(sk.status, sk.stderr).toBe(0);
      expect(`sha256:${createHash('sha256').update(sk.stdout).digest('hex')}`).toBe(indexes.get(tag)!.digest);
    }
  });

  it('draws one progress display for the whole set on a terminal: images done / total, bytes, rate, the current images', async () => {
    const set = file('progress.txt', TAGS.slice(0, 10).map((t) => `${host}/lib/web:${t}`).join('\n') + '\n');
    const log = join(work, 'pty.log');
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = [process.execPath, ...cliArgv('--store', join(work, 'store-progress'), 'pull', '-f', set, '--all-platforms')].map(quote).join(' ');
    await new Promise<void>((done, fail) => execFile('script', ['-qfc', cmd, log], { env: { ...process.env, COLUMNS: '160', IMGPACK_CACHE: join(work, 'cache-progress') }, timeout: 240_000, maxBuffer: 1 << 28 }, (e) => (e ? fail(e) : done())));
    const frames = readFileSync(log, 'utf8').split('\r').filter((f) => /pulling \d+\/10 images/.test(f));
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.at(-1)).toMatch(/^pulling \d+\/10 images +\d+% \[[=> ]+\] [\d.]+[kMG]?B\/[\d.]+[kMG]?B [\d.]+[kMG]?B\/s/);
    expect(frames.some((f) => /web:[\w.-]+\x1b\[K$/.test(f))).toBe(true); // the images being pulled, at the end of the line
    expect(readFileSync(log, 'utf8')).toContain('Fetched 10 of 10 images');
  });
});
