#!/usr/bin/env node
/**
 * `npm run bench:sets`: a set of 50 images pulled from a loopback registry (distribution, started
 * here on a free port), by imgpack (`pull -f`, into a fresh store and into an OCI layout) and by
 * `skopeo sync --src yaml --dest dir` (skopeo 1.9), in the same run, with peak RSS; plus imgpack's
 * plain `pull REF...` (one image after the other) to show what fetching several at once and
 * downloading shared blobs once buys. The images are random (incompressible) and share base
 * layers as real ones do: BENCH_SETS_BASES bases of BENCH_SETS_BASE_MB each, every image on one of
 * them with two layers of its own of BENCH_SETS_OWN_MB. Not a test: it prints a table.
 *   BENCH_DIR=/tmp/imgpack-bench BENCH_REPS=3 npm run bench:sets
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dir = join(process.env.BENCH_DIR || '/tmp/imgpack-bench', 'sets');
const reps = Number(process.env.BENCH_REPS || 3);
const IMAGES = Number(process.env.BENCH_SETS_IMAGES || 50);
const BASES = Number(process.env.BENCH_SETS_BASES || 5);
const BASE_MB = Number(process.env.BENCH_SETS_BASE_MB || 8);
const OWN_MB = Number(process.env.BENCH_SETS_OWN_MB || 1);
const imgpack = ['node', join(root, 'bin/imgpack.cjs')];
const hasTime = existsSync('/usr/bin/time');
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
if (!have('docker-registry') || !have('skopeo')) {
  console.error('bench:sets needs docker-registry (distribution) and skopeo on PATH');
  process.exit(1);
}
if (!existsSync(join(root, 'dist/testing/build.js'))) {
  console.error('run npm run build first');
  process.exit(1);
}
const { buildImage } = await import(join(root, 'dist/testing/build.js'));
const { pushImage } = await import(join(root, 'dist/testing/seed-registry.js'));

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

// A registry of our own on a free port, as test/helpers/distribution.ts starts one.
const port = await new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const host = `127.0.0.1:${port}`;
writeFileSync(join(dir, 'registry.yml'), [
  'version: 0.1',
  'log: {level: warn, accesslog: {disabled: true}}',
  `storage: {filesystem: {rootdirectory: ${join(dir, 'registry')}}}`,
  `http: {addr: ${host}}`,
  'health: {storagedriver: {enabled: false}}',
].join('\n') + '\n');
const registry = spawn('docker-registry', ['serve', join(dir, 'registry.yml')], { stdio: 'ignore' });
process.on('exit', () => registry.kill('SIGTERM'));
for (let i = 0; ; i++) {
  if (i > 80) throw new Error('docker-registry did not start');
  if (await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false)) break;
  await new Promise((r) => setTimeout(r, 250));
}

// 50 images: random content, each on one of the shared bases, with two layers of its own.
const mb = (n) => randomBytes(Math.round((n * 1024 * 1024 * 3) / 4)).toString('base64'); // base64: 4/3 of the bytes
console.error(`seeding ${IMAGES} images (${BASES} bases of ${BASE_MB} MB, ${2 * OWN_MB} MB of their own each) into ${host} ...`);
const bases = Array.from({ length: BASES }, (_, i) => ({ files: { [`base${i}`]: mb(BASE_MB) } }));
const refs = [];
for (let i = 0; i < IMAGES; i++) {
  const img = await buildImage({ layers: [bases[i % BASES], { files: { app: mb(OWN_MB) } }, { files: { data: mb(OWN_MB) } }] });
  const repo = `bench/app${String(i).padStart(2, '0')}`;
  await pushImage(host, repo, '1', img);
  refs.push(`${host}/${repo}:1`);
}
const distinctMB = BASES * BASE_MB + IMAGES * 2 * OWN_MB;
const totalMB = IMAGES * (BASE_MB + 2 * OWN_MB);

const setFile = join(dir, 'set.txt');
writeFileSync(setFile, refs.join('\n') + '\n');
const syncFile = join(dir, 'sync.yaml');
writeFileSync(syncFile, [`${host}:`, '  tls-verify: false', '  images:', ...refs.map((r) => `    ${r.slice(host.length + 1, -2)}: ["1"]`)].join('\n') + '\n');

/** Median wall time and peak RSS over `reps` runs; `before` runs untimed first. */
function measure(argv, before, env = {}) {
  const runs = [];
  for (let i = 0; i < reps; i++) {
    before?.();
    const cmd = hasTime ? ['/usr/bin/time', '-f', '%e %M', ...argv] : argv;
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26, env: { ...process.env, ...env } });
    const wall = Number(process.hrtime.bigint() - t) / 1e9;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.split('\n').slice(-3).join(' ')}`);
    const rss = Number((r.stderr.trim().split('\n').pop() ?? '').split(' ')[1]);
    runs.push({ wall, rssMB: hasTime ? rss / 1024 : NaN });
  }
  runs.sort((a, b) => a.wall - b.wall);
  return { wall: runs[Math.floor(runs.length / 2)].wall, rssMB: Math.max(...runs.map((x) => x.rssMB)) };
}

const out = (name) => join(dir, name);
const fresh = (...names) => () => names.forEach((n) => rmSync(out(n), { recursive: true, force: true }));
const du = (p) => Number(spawnSync('du', ['-sm', p], { encoding: 'utf8' }).stdout.split('\t')[0]);
const rows = [];
const row = (name, m, disk, base) => rows.push([name, m.wall.toFixed(2), Number.isNaN(m.rssMB) ? '-' : m.rssMB.toFixed(0), String(disk), base ? `${(base.wall / m.wall).toFixed(2)}x` : '']);

const env = { IMGPACK_CACHE: out('cache') };
const skopeo = measure(['skopeo', 'sync', '--src', 'yaml', '--dest', 'dir', '--scoped', syncFile, out('skopeo-dir')], fresh('skopeo-dir'));
row('skopeo sync --src yaml --dest dir', skopeo, du(out('skopeo-dir')));
const store = measure([...imgpack, '--store', out('store'), 'pull', '-f', setFile], fresh('store', 'cache', 'set.lock'), env);
row('imgpack pull -f SET (into a fresh store)', store, du(out('store')), skopeo);
const images = JSON.parse(spawnSync(imgpack[0], [...imgpack.slice(1), '--store', out('store'), 'images', '--json'], { encoding: 'utf8' }).stdout).images.length;
if (images !== IMAGES) throw new Error(`the store holds ${images} images, not ${IMAGES}`);
const layout = measure([...imgpack, 'pull', '-f', setFile, '-o', out('layout/')], fresh('layout', 'cache', 'set.lock'), env);
row('imgpack pull -f SET -o DIR/ (one OCI layout)', layout, du(out('layout')), skopeo);
const serial = measure([...imgpack, '--store', out('store-serial'), 'pull', ...refs], fresh('store-serial', 'cache'), env);
row('imgpack pull REF... (one after the other)', serial, du(out('store-serial')), skopeo);

console.log(`\n${IMAGES} images from ${host}: ${totalMB} MB of layers, ${distinctMB} MB distinct (shared bases); median of ${reps}`);
const header = ['', 'seconds', 'peak RSS MB', 'on disk MB', 'vs skopeo'];
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
for (const r of [header, ...rows]) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
registry.kill('SIGTERM');
if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
