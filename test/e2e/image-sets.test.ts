/**
 * Image sets against the in-process fake registry (what the real one will not do on demand):
 * tag lists read page by page, a dry run that fetches no layer, blobs shared between images
 * downloaded once, several images at once within the download limit, the first failure stopping
 * a run with nothing named in the store, keep-going with a report and a retry of exactly what
 * failed, save -f from the store, and verify --lock of what was written.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, type BuiltImage } from '../../src/testing/build.js';
import { pushImage } from '../../src/testing/seed-registry.js';
import { listTags } from '../../src/formats/registry/resolve.js';
import { runImageSet } from '../../src/ops/image-sets.js';
import { formatPlatform, hostPlatform } from '../../src/model/oci.js';
import { readSetFiles } from '../../src/ops/set-file.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
let reg: FakeRegistry;
/** Blob GETs answered after a pause, to see how many are in flight at once. */
let slowBlobs = false;
let inFlight = 0;
let maxInFlight = 0;
const TAGS = ['1.24.0', '1.24.1', '1.25.0', '1.25.1', '1.25.2', '1.25.3', '1.26.0', '1.26.1', '1.26.2', '1.27.0-rc1', '1.27.0', 'v1.28.0', 'latest', 'stable', '1.25', '1.25-alpine', '1.26.2-alpine', '2.0.0', 'edge', 'nightly'];
const base = { files: { 'etc/os-release': 'shared base layer '.repeat(2000) }, compression: 'gzip' as const };
const shared: BuiltImage[] = [];

beforeAll(async () => {
  reg = await startFakeRegistry({
    fault: (req, res) => {
      const m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
      // Layers only: resolving a set reads configs too (for platforms), several at once.
      if (!slowBlobs || req.method !== 'GET' || !m || !shared.some((s) => s.layers.some((l) => l.digest === m[2]))) return false;
      const blob = reg.links.get(m[1])?.has(m[2]) ? reg.blobs.get(m[2]) : undefined;
      if (!blob) return false;
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      setTimeout(() => {
        inFlight--;
        res.setHeader('content-length', String(blob.length));
        res.end(blob);
      }, 60);
      return true;
    },
  });
  for (const tag of TAGS) await pushImage(reg.host, 'team/app', tag, await buildImage({ layers: [{ files: { version: tag } }] }));
  for (let i = 0; i < 8; i++) {
    const img = await buildImage({ layers: [base, { files: { [`app${i}`]: `one ${i}` } }, { files: { [`data${i}`]: `two ${i}` } }] });
    shared.push(img);
    await pushImage(reg.host, `team/set${i}`, '1', img);
  }
  process.env.IMGPACK_CACHE = join(dir, 'cache');
});
afterAll(async () => {
  delete process.env.IMGPACK_CACHE;
  await reg.close();
});

const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const blobGets = (digest: string) => reg.log.filter((l) => l.startsWith('GET ') && l.endsWith(`/blobs/${digest}`)).length;
const sharedList = () => write('shared.txt', shared.map((_, i) => `${reg.host}/team/set${i}:1`).join('\n') + '\n');

describe('image sets against a registry', () => {
  it('reads a tag list page by page (Link: rel="next") and filters it', async () => {
    const before = reg.log.length;
    expect((await listTags(`${reg.host}/team/app`, 7)).sort()).toEqual([...TAGS].sort());
    const pages = reg.log.slice(before).filter((l) => l.includes('/tags/list'));
    const sorted = [...TAGS].sort();
    expect(pages).toEqual([
      'GET /v2/team/app/tags/list?n=7',
      `GET /v2/team/app/tags/list?n=7&last=${sorted[6]}`,
      `GET /v2/team/app/tags/list?n=7&last=${sorted[13]}`,
    ]);
    const set = readSetFiles([write('filters.yaml', `images:\n  - ref: ${reg.host}/team/app\n    tags: {semver: ">=1.25 <1.27", latest: 4}\n  - ref: ${reg.host}/team/app\n    tags: {regex: 'alpine$'}\n`)]);
    const r = await runImageSet(set, { dryRun: true, tagPageSize: 7 });
    expect(r.images.map((i) => i.reference.split(':').pop())).toEqual(['1.25-alpine', '1.25.3', '1.26.0', '1.26.1', '1.26.2', '1.26.2-alpine']);
    expect(r.failures).toEqual([]);
  });

  it('a dry run prints reference, digest, platforms and size, and fetches no layer and writes nothing', async () => {
    const set = sharedList();
    const store = join(dir, 'dry-store');
    const before = reg.log.length;
    const r = await runCli('--store', store, 'pull', '-f', set, '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^REFERENCE +DIGEST +PLATFORMS +SIZE +FROM$/);
    expect(lines).toHaveLength(9);
    expect(lines[1]).toMatch(new RegExp(`^${reg.host}/team/set0:1 +${shared[0].manifest.digest} +linux/amd64 +[\\d.]+kB +resolved$`));
    expect(r.stderr).toMatch(/Dry run: 8 images, [\d.]+kB \(each shared blob once\); nothing fetched or written/);
    const layerGets = reg.log.slice(before).filter((l) => l.startsWith('GET') && shared.some((s) => s.layers.some((x) => l.endsWith(x.digest))));
    expect(layerGets).toEqual([]);
    expect([existsSync(store), existsSync(join(dir, 'shared.lock'))]).toEqual([false, false]);
  });

  it('fetches several images at once within the download limit, a blob they share once, with one lock', async () => {
    const set = sharedList();
    const store = join(dir, 'store-shared');
    slowBlobs = true;
    maxInFlight = 0;
    try {
      const r = await runCli('--store', store, 'pull', '-f', set);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(shared.map((_, i) => `Pulled: ${reg.host}/team/set${i}:1`));
      expect(r.stderr).toMatch(/Fetched 8 of 8 images; 7 blobs \([\d.]+kB\) shared between images, downloaded once/);
    } finally {
      slowBlobs = false;
    }
    expect(blobGets(shared[0].layers[0].digest)).toBe(1);
    // One image downloads at most 4 blobs at once: more means several images; 8 is the set's limit.
    expect(maxInFlight).toBeGreaterThan(4);
    expect(maxInFlight).toBeLessThanOrEqual(8);
    const lock = JSON.parse(readFileSync(join(dir, 'shared.lock'), 'utf8'));
    expect(lock.images.map((i: { reference: string; digest: string }) => [i.reference, i.digest])).toEqual(shared.map((s, i) => [`${reg.host}/team/set${i}:1`, s.manifest.digest]));
  });

  it('keeps to a smaller download limit, and reports progress over the whole set', async () => {
    slowBlobs = true;
    maxInFlight = 0;
    const seen: { done: number; total: number; current: number }[] = [];
    try {
      const set = readSetFiles([sharedList()]);
      const r = await runImageSet(set, { downloads: 3, concurrency: 3, lock: { path: join(dir, 'limit.lock'), read: false }, onProgress: (e) => e.phase === 'fetch' && seen.push({ done: e.done, total: e.total, current: e.current.length }) }, async ({ roots }) => roots.length);
      expect(r.delivered).toBe(8);
    } finally {
      slowBlobs = false;
    }
    expect(maxInFlight).toBeLessThanOrEqual(3);
    expect(Math.max(...seen.map((s) => s.current))).toBe(3);
    expect(seen.at(-1)).toEqual({ done: 8, total: 8, current: 0 });
  });

  it('stops at the first failure with nothing named in the store; --keep-going fetches the rest, reports, and --retry fetches exactly what failed', async () => {
    const broken = shared[3].layers[2].digest;
    const set = sharedList();
    const store = join(dir, 'store-failing');
    reg.links.get('team/set3')!.delete(broken);
    const stopped = await runCli('--store', store, 'pull', '-f', set);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`imgpack: not found in the registry: blobs/${broken} (${reg.host}/team/set3:1@${shared[3].manifest.digest})`);
    expect(existsSync(store)).toBe(false);

    const report = join(dir, 'failed.json');
    const going = await runCli('--store', store, 'pull', '-f', set, '--keep-going', '--report', report);
    expect(going.code).toBe(1);
    expect(going.stdout.trim().split('\n')).toHaveLength(7);
    expect(going.stderr).toContain(`imgpack: failed: ${reg.host}/team/set3:1 (${reg.host}): not found in the registry: blobs/${broken}`);
    const failures = JSON.parse(readFileSync(report, 'utf8'));
    expect(failures).toEqual({
      kind: 'imgpack-failures', version: 1, lock: 'shared.lock',
      failures: [{ reference: `${reg.host}/team/set3:1`, registry: reg.host, code: 'registry-not-found', reason: `not found in the registry: blobs/${broken}`, exitCode: 1, retry: { ref: `${reg.host}/team/set3:1@${shared[3].manifest.digest}`, platforms: ['linux/amd64'], pinned: true } }],
    });

    reg.links.get('team/set3')!.add(broken);
    const before = reg.log.length;
    const retried = await runCli('--store', store, 'pull', '--retry', report);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout.trim()).toBe(`Pulled: ${reg.host}/team/set3:1`);
    const manifestGets = reg.log.slice(before).filter((l) => l.startsWith('GET') && l.includes('/manifests/'));
    expect(new Set(manifestGets.map((l) => l.split('/')[3]))).toEqual(new Set(['set3']));
    expect((await runCli('--store', store, 'images', '--json')).json().images).toHaveLength(8);
  });

  it('writes a bundle whose transfer manifest records the lock, which verify --lock then holds it to; save -f picks from the store', async () => {
    const set = write('app.yaml', `images:\n  - ref: ${reg.host}/team/app\n    tags: {semver: "~1.26", latest: 2}\n  - ${reg.host}/team/set0:1\n`);
    const store = join(dir, 'store-app');
    const bundle = join(dir, 'app.tar');
    const lockPath = join(dir, 'app.lock');
    const r = await runCli('--store', store, 'pull', '-f', set, '-o', bundle);
    expect(r.code, r.stderr).toBe(0);
    const lockSha = `sha256:${createHash('sha256').update(readFileSync(lockPath)).digest('hex')}`;
    expect(JSON.parse(readFileSync(`${bundle}.imgpack.json`, 'utf8')).lock).toEqual({ sha256: lockSha, images: 3 });
    const v = await runCli('verify', bundle, '--lock', lockPath);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(`exactly the 3 images of lock ${lockPath} (the lock it was made from)`);

    // Into the store, then out of it with the lock: the same images.
    expect((await runCli('--store', store, 'pull', '-f', set, '--lock', lockPath)).code).toBe(0);
    const saved = join(dir, 'saved.tar');
    const s = await runCli('--store', store, 'save', '-f', set, '--lock', lockPath, '-o', saved);
    expect(s.code, s.stderr).toBe(0);
    expect((await runCli('verify', saved, '--lock', lockPath)).code).toBe(0);
    // Without a lock, save resolves the tag filter against the store's tags.
    const dry = await runCli('--store', store, 'save', '-f', set, '--dry-run', '-o', join(dir, 'unused.tar'));
    expect(dry.stdout.split('\n').slice(1, 4).map((l) => l.split(/ +/)[0])).toEqual([`${reg.host}/team/app:1.26.1`, `${reg.host}/team/app:1.26.2`, `${reg.host}/team/set0:1`]);
    expect(readdirSync(dir)).not.toContain('unused.tar');
  });

  it('tries TLS with a plain-HTTP loopback registry once per client wave, not once per request of every image', async () => {
    const before = reg.notHttp();
    const r = await runCli('--store', join(dir, 'store-tls'), 'pull', '-f', sharedList());
    expect(r.code, r.stderr).toBe(0);
    // 8 images, each resolved and then pulled by a client of its own: 16 handshakes before the
    // host was remembered; now at most the first wave of 8 clients resolving at once.
    expect(reg.notHttp() - before).toBeGreaterThan(0);
    expect(reg.notHttp() - before).toBeLessThanOrEqual(8);
  });

  it('fromManifests: fetches what find-images finds; an unusable reference fails the entry, and the retry reads the manifests again', async () => {
    const k8s = join(dir, 'k8s');
    mkdirSync(k8s, { recursive: true });
    writeFileSync(join(k8s, 'app.yaml'), [
      'apiVersion: apps/v1', 'kind: Deployment', 'metadata: {name: web}', 'spec:', '  template:', '    spec:',
      '      initContainers:', `        - {name: init, image: ${reg.host}/team/set4:1}`,
      '      containers:', `        - {name: web, image: ${reg.host}/team/set5:1}`,
      '---', 'apiVersion: batch/v1', 'kind: CronJob', 'metadata: {name: nightly}', 'spec:', '  schedule: "@daily"', '  jobTemplate:', '    spec:', '      template:', '        spec:',
      '          containers:', `            - {name: job, image: ${reg.host}/team/set4:1}`,
    ].join('\n') + '\n');
    writeFileSync(join(k8s, 'compose.yaml'), `services:\n  db:\n    image: ${reg.host}/team/set\${DB_IMAGE}:1\n`);
    const set = write('manifests.yaml', 'images:\n  - fromManifests: ./k8s/\n');
    const store = join(dir, 'store-manifests');
    const report = join(dir, 'manifests-failed.json');
    const r = await runCli('--store', store, 'pull', '-f', set, '--keep-going', '--report', report);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toEqual([`Pulled: ${reg.host}/team/set4:1`, `Pulled: ${reg.host}/team/set5:1`]);
    expect(r.stderr).toContain(`imgpack: failed: fromManifests ./k8s/: not a usable reference: ${reg.host}/team/set\${DB_IMAGE}:1 (${join(k8s, 'compose.yaml')}:3)`);
    expect(r.stderr).toContain('warning: variable DB_IMAGE is not set');
    expect(JSON.parse(readFileSync(report, 'utf8')).failures.map((f: { retry: unknown }) => f.retry)).toEqual([{ fromManifests: k8s, key: `fromManifests ./k8s/ [${formatPlatform(hostPlatform())}]` }]);

    process.env.DB_IMAGE = '6';
    try {
      const retry = await runCli('--store', store, 'pull', '--retry', report);
      expect(retry.code, retry.stderr).toBe(0);
      expect(retry.stdout.trim().split('\n')).toEqual([`Pulled: ${reg.host}/team/set4:1`, `Pulled: ${reg.host}/team/set5:1`, `Pulled: ${reg.host}/team/set6:1`]);
    } finally {
      delete process.env.DB_IMAGE;
    }
    const lock = JSON.parse(readFileSync(join(dir, 'manifests.lock'), 'utf8'));
    expect(lock.images.map((i: { reference: string }) => i.reference)).toEqual([4, 5, 6].map((n) => `${reg.host}/team/set${n}:1`));
    // The set run with the lock now takes the lock's three (the retry recorded the third under the set's entry), without reading the manifests.
    rmSync(k8s, { recursive: true });
    const locked = await runCli('--store', store, 'pull', '-f', set, '--lock', join(dir, 'manifests.lock'), '--dry-run');
    expect(locked.code, locked.stderr).toBe(0);
    expect(locked.stdout.split('\n').filter((l) => l.endsWith(' lock')).map((l) => l.split(' ')[0])).toEqual([4, 5, 6].map((n) => `${reg.host}/team/set${n}:1`));
  });

  it('a changed entry keeps the digests the lock pins for the references it still names, and resolves only the new ones', async () => {
    await pushImage(reg.host, 'team/pinned', '1.0.0', await buildImage({ layers: [{ files: { v: '1.0.0' } }] }));
    const first = await buildImage({ layers: [{ files: { v: '1.1.0' } }] });
    await pushImage(reg.host, 'team/pinned', '1.1.0', first);
    const lockPath = join(dir, 'pinned.lock');
    const one = write('pinned.yaml', `images:\n  - ref: ${reg.host}/team/pinned\n    tags: {latest: 1}\n`);
    expect((await runCli('pull', '-f', one, '--lock', lockPath, '-o', join(dir, 'pinned1/'))).code).toBe(0);
    // 1.1.0 is pushed again with other content; the filter now asks for two tags.
    await pushImage(reg.host, 'team/pinned', '1.1.0', await buildImage({ layers: [{ files: { v: '1.1.0 rebuilt' } }] }));
    write('pinned.yaml', `images:\n  - ref: ${reg.host}/team/pinned\n    tags: {latest: 2}\n`);
    const r = await runCli('pull', '-f', one, '--lock', lockPath, '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().images.map((i: { reference: string; digest: string; locked: boolean }) => [i.reference.split(':').pop(), i.locked])).toEqual([['1.0.0', false], ['1.1.0', true]]);
    expect(r.json().images[1].digest).toBe(first.manifest.digest);
  });

  it('refuses set flags without a set, --report without --keep-going, and a set that names nothing', async () => {
    expect((await runCli('pull', 'x:1', '--keep-going')).stderr).toBe('imgpack: --keep-going goes with an image set (-f FILE)\n');
    const empty = write('empty.txt', '# nothing yet\n');
    expect(await runCli('pull', '-f', empty)).toMatchObject({ code: 1, stderr: `imgpack: the set names no image (${empty})\n` });
    const none = write('none.json', JSON.stringify({ kind: 'imgpack-failures', version: 1, failures: [] }));
    expect(await runCli('pull', '--retry', none)).toMatchObject({ code: 0, stderr: `Nothing to retry: ${none} names no failure\n` });
    const r = await runCli('pull', '-f', sharedList(), '--report', join(dir, 'r.json'));
    expect([r.code, r.stderr]).toEqual([2, 'imgpack: --report goes with --keep-going\n']);
  });
});
