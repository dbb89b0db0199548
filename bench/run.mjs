#!/usr/bin/env node
/**
 * `npm run bench`: times imgpack on a ~1 GiB docker-archive of random-content, uncompressed layers
 * (as `docker save` writes) next to `cat`, `openssl dgst -sha256` and `skopeo copy` (when
 * installed) on the same file, with peak RSS. Not a test: it prints a table.
 *   BENCH_DIR=/tmp/imgpack-bench BENCH_SIZE=1G npm run bench
 * Targets (issue 3): one-image convert >= 2x faster than skopeo copy docker-archive:F:@0 oci:DIR;
 * verify at least as fast as single-core openssl dgst -sha256; peak RSS < 200 MB.
 * Targets (issue 4): load within 2x of `cat | sha256sum`; save with volumes within 1.5x of `cat >
 * file` (unreachable: the manifest's whole-archive sha256 is one sequential pass that alone takes
 * longer than 1.5x cat here; the by-hand row is the job it replaces).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const dir = process.env.BENCH_DIR || '/tmp/imgpack-bench';
const size = process.env.BENCH_SIZE || '1G';
const reps = Number(process.env.BENCH_REPS || 3);
mkdirSync(dir, { recursive: true });
const archive = join(dir, `bench-${size}.tar`);
const imgpack = ['node', join(root, 'bin/imgpack.cjs')];
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const hasTime = existsSync('/usr/bin/time');

if (!existsSync(archive)) {
  console.error(`making ${archive} ...`);
  const r = spawnSync('node', [join(root, 'bench/make-archive.mjs'), archive, '--size', size], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}
const bytes = statSync(archive).size;
spawnSync('cat', [archive], { stdio: ['ignore', 'ignore', 'ignore'] }); // warm the page cache

/** Median wall time and peak RSS of a command over `reps` runs; `before` runs untimed first. */
function measure(argv, before) {
  const runs = [];
  for (let i = 0; i < reps; i++) {
    before?.();
    const cmd = hasTime ? ['/usr/bin/time', '-f', '%e %M', ...argv] : argv;
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
    const wall = Number(process.hrtime.bigint() - t) / 1e9;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.split('\n').slice(-3).join(' ')}`);
    const last = r.stderr.trim().split('\n').pop() ?? '';
    const [, rss] = last.split(' ').map(Number);
    runs.push({ wall, rssMB: hasTime ? rss / 1024 : NaN });
  }
  runs.sort((a, b) => a.wall - b.wall);
  const mid = runs[Math.floor(runs.length / 2)];
  return { wall: mid.wall, rssMB: Math.max(...runs.map((x) => x.rssMB)) };
}

const out = (name) => join(dir, name);
const clean = (...names) => () => names.forEach((n) => rmSync(out(n), { recursive: true, force: true }));
const rows = [];
const row = (name, m, base, baseName) => rows.push([name, m.wall.toFixed(2), Number.isNaN(m.rssMB) ? '-' : m.rssMB.toFixed(0), base ? `${(base.wall / m.wall).toFixed(2)}x ${baseName}` : '']);

const cat = measure(['sh', '-c', `cat '${archive}' > /dev/null`]);
row('cat > /dev/null', cat);
const openssl = have('openssl') ? measure(['openssl', 'dgst', '-sha256', archive]) : undefined;
if (openssl) row('openssl dgst -sha256 (1 core)', openssl);
row('imgpack inspect', measure([...imgpack, 'inspect', archive, '--json']), cat, 'cat');
row('imgpack verify', measure([...imgpack, 'verify', archive]), openssl, 'openssl');
const skopeo = have('skopeo') ? measure(['skopeo', 'copy', '-q', `docker-archive:${archive}:@0`, `oci:${out('skopeo-oci')}`], clean('skopeo-oci')) : undefined;
if (skopeo) row('skopeo copy docker-archive:F:@0 oci:DIR', skopeo);
row('imgpack convert --image (one image) -> oci-layout', measure([...imgpack, 'convert', archive, '--image', 'bench/image0', '-o', out('one-oci/')], clean('one-oci')), skopeo, 'skopeo');
row('imgpack convert --image (one image) -> hybrid', measure([...imgpack, 'convert', archive, '--image', 'bench/image0', '-o', out('one.tar')], clean('one.tar')), skopeo, 'skopeo');
row('imgpack convert (all) -> hybrid', measure([...imgpack, 'convert', archive, '-o', out('all.tar')], clean('all.tar')), cat, 'cat');
spawnSync(imgpack[0], [...imgpack.slice(1), 'convert', archive, '--image', 'bench/image1', '-o', out('other.tar')]);
row('imgpack merge (archive + one of its images)', measure([...imgpack, 'merge', archive, out('other.tar'), '-o', out('merged.tar')], clean('merged.tar')), cat, 'cat');

// The air-gap workflow (issue 4): load into a store, save from it, with and without volumes.
const store = out('store');
rmSync(store, { recursive: true, force: true });
const catHash = measure(['sh', '-c', `cat '${archive}' | sha256sum > /dev/null`]);
row('cat | sha256sum (load baseline)', catHash);
row('imgpack load (into a fresh store)', measure([...imgpack, '--store', store, 'load', '-i', archive], () => rmSync(store, { recursive: true, force: true })), catHash, 'cat+sha256');
const catCopy = measure(['sh', '-c', `cat '${archive}' > '${out('cat-copy.tar')}'`], clean('cat-copy.tar'));
row('cat > file (save baseline)', catCopy);
// imgpack fsyncs what it writes (a USB stick pulled too early must not hold a set that looks whole).
row('cat > file && sync (durable, as imgpack writes)', measure(['sh', '-c', `cat '${archive}' > '${out('cat-copy.tar')}' && sync '${out('cat-copy.tar')}'`], clean('cat-copy.tar')));
row('imgpack save --all -o file', measure([...imgpack, '--store', store, 'save', '--all', '-o', out('saved.tar')], clean('saved.tar')), catCopy, 'cat');
const vclean = () => spawnSync('sh', ['-c', `rm -f '${out('vol.tar')}'.* '${out('byhand')}'.*`]);
// What the same job takes by hand: split into volumes, sha256 of the whole and of each volume.
const byHand = `sha256sum '${archive}' > /dev/null & split -b 256M -d -a 3 '${archive}' '${out('byhand')}.' && sha256sum '${out('byhand')}'.0* > /dev/null; wait`;
const byHandRun = measure(['bash', '-c', byHand], vclean);
row('by hand: split -b 256M + sha256sum (whole, volumes)', byHandRun);
const volumes = measure([...imgpack, '--store', store, 'save', '--all', '-o', out('vol.tar'), '--volume-size', '256M'], vclean);
row('imgpack save --all --volume-size 256M', volumes, catCopy, 'cat');
row('  (same, against the by-hand job)', volumes, byHandRun, 'by hand');
// docker load into the realtools' private dockerds (../shared/tools/realtools/start-dockerd.sh), when running.
const realtools = join(root, '..', 'shared', 'tools', 'realtools');
for (const flavour of ['legacy', 'modern']) {
  const sock = `/tmp/imgpack-realtools/dockerd-${flavour}/docker.sock`;
  if (!existsSync(sock) || !existsSync(join(realtools, 'lib.sh'))) continue;
  const docker = (args) => `source '${realtools}/lib.sh' && rt_docker ${flavour} ${args}`;
  if (spawnSync('bash', ['-c', docker('version > /dev/null 2>&1')], { timeout: 30_000 }).status !== 0) continue; // a socket left by a stopped dockerd
  row(`docker load (dockerd ${flavour === 'legacy' ? '20.10' : '26'})`, measure(['bash', '-c', docker(`load -q -i '${archive}' > /dev/null`)], () => spawnSync('bash', ['-c', `${docker("images -q")} | xargs -r ${docker('rmi -f')} > /dev/null 2>&1`])), catHash, 'cat+sha256');
}
if (have('podman')) row('podman load (vfs, fresh store)', measure(['sh', '-c', `podman --root '${out('podman')}' --runroot '${out('podman-run')}' --storage-driver vfs load -q -i '${archive}' > /dev/null`], clean('podman', 'podman-run')), catHash, 'cat+sha256');

console.log(`\n${archive}: ${(bytes / 2 ** 30).toFixed(2)} GiB, median of ${reps} runs, page cache warm, ${cpus().length} cores\n`);
const header = ['operation', 'seconds', 'peak RSS MB', 'speed vs'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (r) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
