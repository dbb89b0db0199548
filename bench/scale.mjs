#!/usr/bin/env node
/**
 * Scale: a 10 GB docker-archive with hundreds of images and thousands of layers, then inspect,
 * verify, merge, split and a write into USB volumes, each with its time and peak RSS (the goal:
 * under 200 MB). Then an archive holding a member over 8 GiB (PAX + base-256 size): verify,
 * convert, verify again. Not in CI: `npm run bench:scale [-- --size 10G --images 200
 * --layers-per-image 15 --big 9G]`.
 *
 * The inputs are SPARSE: each layer is a tar whose one file is zeros (a unique name makes every
 * layer's digest unique), written as holes, so they take no disk. Outputs are real files: each
 * step's output is removed before the next, and the script refuses to start without room for
 * the largest one (size + 2 GiB) on the output's file system.
 */
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const parseSize = (s) => { const m = /^(\d+)([KMG]?)$/.exec(s); return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]]; };
const total = parseSize(opt('--size', '10G'));
const images = Number(opt('--images', '200'));
const perImage = Number(opt('--layers-per-image', '15'));
const big = parseSize(opt('--big', '9G'));
const dir = mkdtempSync(join(opt('--dir', process.env.TMPDIR || '/tmp'), 'imgpack-scale-'));
const cli = new URL('../bin/imgpack.cjs', import.meta.url).pathname;
const free = () => { const s = statfsSync(dir); return s.bavail * s.bsize; };
if (free() < Math.max(total, big) + 2 * 1024 ** 3) {
  console.error(`scale: ${dir} has ${(free() / 1024 ** 3).toFixed(1)} GiB free; need ${((Math.max(total, big) + 2 * 1024 ** 3) / 1024 ** 3).toFixed(1)} GiB for the outputs`);
  process.exit(2);
}

// ---- tar by hand, positional writes, data left as holes ---------------------------------------
function header(name, size, type = '0') {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116);
  if (size > 0o77777777777) { // base-256, as GNU tar writes sizes of 8 GiB and more
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) { h[i] = Number(v & 0xffn); v >>= 8n; }
  } else h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136); h.write(type, 156); h.write('ustar\u000000', 257, 'latin1');
  h.fill(32, 148, 156);
  let sum = 0; for (const x of h) sum += x;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}
const pad = (n) => Math.ceil(n / 512) * 512;
const ZEROS = Buffer.alloc(1 << 20);
/** sha256 of a layer tar: one header, `size` zero bytes, padding, the end blocks. */
function layerDigest(name, size) {
  const h = createHash('sha256').update(header(name, size));
  for (let left = pad(size) + 1024; left > 0; left -= ZEROS.length) h.update(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
  return 'sha256:' + h.digest('hex');
}

class SparseTar {
  constructor(path) { this.fd = openSync(path, 'w'); this.pos = 0; }
  addHoles(name, size, writeHeadOfData) {
    writeSync(this.fd, header(name, size), 0, 512, this.pos);
    if (writeHeadOfData) writeSync(this.fd, writeHeadOfData, 0, writeHeadOfData.length, this.pos + 512);
    this.pos += 512 + pad(size);
  }
  addBuffer(name, data) {
    writeSync(this.fd, header(name, data.length), 0, 512, this.pos);
    writeSync(this.fd, data, 0, data.length, this.pos + 512);
    this.pos += 512 + pad(data.length);
  }
  close() { ftruncateSync(this.fd, this.pos + 1024); closeSync(this.fd); }
}

/** A layer member: header of the inner tar at the start, zeros (holes) to the end. */
function addLayer(tar, member, innerName, contentSize) {
  const layerSize = 512 + pad(contentSize) + 1024;
  tar.addHoles(member, layerSize, header(innerName, contentSize));
  return layerDigest(innerName, contentSize);
}

function makeArchive(path) {
  const layerCount = images * perImage;
  const contentSize = Math.floor(total / layerCount / 512) * 512 - 2048;
  const tar = new SparseTar(path);
  const manifest = [];
  for (let i = 0; i < images; i++) {
    const layers = [];
    const diffIds = [];
    for (let j = 0; j < perImage; j++) {
      const name = `l-${i}-${j}.tar`;
      diffIds.push(addLayer(tar, name, `data/${i}-${j}.bin`, contentSize));
      layers.push(name);
    }
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
    const id = createHash('sha256').update(config).digest('hex');
    tar.addBuffer(`${id}.json`, config);
    manifest.push({ Config: `${id}.json`, RepoTags: [`scale/image${i}:latest`], Layers: layers });
  }
  tar.addBuffer('manifest.json', Buffer.from(JSON.stringify(manifest)));
  tar.close();
  return { layerCount, contentSize };
}

function run(label, ...cliArgs) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, cli, ...cliArgs], { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 3 * 3600_000 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const lines = r.stderr.trim().split('\n');
  const rssMiB = Number(lines.pop()) / 1024;
  const ok = r.status === 0;
  const row = { step: label, ok, seconds: +seconds.toFixed(1), peakRssMiB: +rssMiB.toFixed(0) };
  console.log(JSON.stringify(row));
  if (!ok) console.log(`  exit ${r.status}: ${lines.slice(-3).join(' | ')}`);
  return row;
}

const rows = [];
try {
  const archive = join(dir, 'scale.tar');
  const t0 = Date.now();
  const { layerCount, contentSize } = makeArchive(archive);
  console.log(`scale: ${archive}: ${images} images, ${layerCount} layers of ${(contentSize / 1024 ** 2).toFixed(1)} MiB, ${(total / 1024 ** 3).toFixed(1)} GiB (sparse), made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const small = join(dir, 'small.tar');
  makeSmall(small);

  rows.push(run('inspect', 'inspect', archive, '--json'));
  rows.push(run('verify', 'verify', archive));
  const merged = join(dir, 'merged.tar');
  rows.push(run('merge (+1 small archive)', 'merge', archive, small, '-o', merged));
  rmSync(merged, { force: true });
  const splitDir = join(dir, 'split');
  rows.push(run('split (one archive per image)', 'split', archive, '-o', `${splitDir}/`));
  rmSync(splitDir, { recursive: true, force: true });
  const vol = join(dir, 'vol.tar');
  rows.push(run('convert --volume-size 4G', 'convert', archive, '-o', vol, '--volume-size', '4G'));
  rows.push(run('verify the volume set', 'verify', `${vol}.imgpack.json`));
  for (const f of readdirSync(dir)) if (f.startsWith('vol.tar')) rmSync(join(dir, f), { force: true });
  rmSync(archive, { force: true });

  // A member over 8 GiB: the layer of one image is a tar of one big file of zeros.
  const bigArchive = join(dir, 'big.tar');
  const tar = new SparseTar(bigArchive);
  const diffId = addLayer(tar, 'big-layer.tar', 'huge.bin', big);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const id = createHash('sha256').update(config).digest('hex');
  tar.addBuffer(`${id}.json`, config);
  tar.addBuffer('manifest.json', Buffer.from(JSON.stringify([{ Config: `${id}.json`, RepoTags: ['scale/big:1'], Layers: ['big-layer.tar'] }])));
  tar.close();
  rows.push(run(`verify (a ${(big / 1024 ** 3).toFixed(0)} GiB member, base-256 size)`, 'verify', bigArchive));
  const bigOut = join(dir, 'big-out.tar');
  rows.push(run('convert it (writes a PAX size)', 'convert', bigArchive, '-o', bigOut));
  rmSync(bigArchive, { force: true });
  rows.push(run('verify the converted one', 'verify', bigOut));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log('\n| step | ok | seconds | peak RSS (MiB) |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.step} | ${r.ok ? 'yes' : 'NO'} | ${r.seconds} | ${r.peakRssMiB} |`);
process.exitCode = rows.every((r) => r.ok && r.peakRssMiB < 200) ? 0 : 1;

function makeSmall(path) {
  const t = new SparseTar(path);
  const d = addLayer(t, 'small-layer.tar', 'small.bin', 4096);
  const c = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [d] } }));
  const cid = createHash('sha256').update(c).digest('hex');
  t.addBuffer(`${cid}.json`, c);
  t.addBuffer('manifest.json', Buffer.from(JSON.stringify([{ Config: `${cid}.json`, RepoTags: ['scale/small:1'], Layers: ['small-layer.tar'] }])));
  t.close();
}
