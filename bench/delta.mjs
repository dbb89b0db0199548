#!/usr/bin/env node
/**
 * `node bench/delta.mjs [--base 300M] [--deps 60M] [--app 8M] [--days 5]`: a week of typical
 * updates across the gap, full versus delta.
 * Day 0 ships base + deps + app v1 in full to the air-gapped store. Each following day a new app
 * version (a new app layer on the same base and deps) ships twice: as a full save, and as a delta
 * against the inventory of the receiving store; the delta is loaded there, and applied back to a
 * full archive. Layers are random bytes (incompressible), uncompressed, as docker save writes.
 * Prints bytes and wall time per day and the week's totals.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, dockerArchiveEntries, tarBuffer } from '../dist/testing/build.js';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const size = (s) => { const m = /^(\d+)([KMG]?)$/.exec(s); return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]]; };
const baseBytes = size(opt('--base', '300M'));
const depsBytes = size(opt('--deps', '60M'));
const appBytes = size(opt('--app', '8M'));
const days = Number(opt('--days', '5'));
const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'imgpack-delta-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const file = (bytes) => ({ files: { data: randomBytes(Math.ceil(bytes * 3 / 4)).toString('base64').slice(0, bytes) } });
const baseLayer = file(baseBytes);
const depsLayer = file(depsBytes);
const p = (x) => join(work, x);
const there = p('there-store');

function imgpack(...a) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(root, 'bin/imgpack.cjs'), ...a], { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`imgpack ${a.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}
const mb = (n) => (n / 1e6).toFixed(1);

const rows = [];
let totals = { full: 0, delta: 0, tFull: 0, tDelta: 0, tLoad: 0, tApply: 0 };
for (let day = 0; day <= days; day++) {
  const img = await buildImage({ names: [`shop/app:${day + 1}`], layers: [baseLayer, depsLayer, file(appBytes)] }, 'docker');
  const src = p(`app-${day + 1}.src.tar`);
  writeFileSync(src, await tarBuffer(dockerArchiveEntries([img])));
  const full = p(`day${day}.full.tar`);
  const tFull = imgpack('convert', src, '-o', full);
  if (day === 0) {
    imgpack('--store', there, 'load', '-i', full);
    rows.push({ day, full: statSync(full).size, delta: statSync(full).size, tFull, tDelta: tFull, tLoad: 0, tApply: 0 });
    totals.full += statSync(full).size; totals.delta += statSync(full).size;
    continue;
  }
  const inv = p(`have-${day}.json`);
  const tInv = imgpack('--store', there, 'inventory', '-o', inv);
  const delta = p(`day${day}.delta.tar`);
  const tDelta = imgpack('convert', src, '--exclude-from', inv, '-o', delta) + tInv;
  const tLoad = imgpack('--store', there, 'load', '-i', delta);
  const tApply = imgpack('--store', there, 'apply', delta, '-o', p(`day${day}.applied.tar`));
  const row = { day, full: statSync(full).size, delta: statSync(delta).size, tFull, tDelta, tLoad, tApply };
  rows.push(row);
  for (const k of Object.keys(totals)) totals[k] += row[k];
  rmSync(src);
}
console.log(`base ${mb(baseBytes)} MB, deps ${mb(depsBytes)} MB, app ${mb(appBytes)} MB per version, ${days} updates after day 0`);
console.log('day | full MB | delta MB | full save s | delta (inventory + save) s | load delta s | apply s');
for (const r of rows) console.log(`${r.day} | ${mb(r.full)} | ${mb(r.delta)} | ${r.tFull.toFixed(2)} | ${r.tDelta.toFixed(2)} | ${r.tLoad.toFixed(2)} | ${r.tApply.toFixed(2)}`);
console.log(`week | ${mb(totals.full)} | ${mb(totals.delta)} | ${totals.tFull.toFixed(2)} | ${totals.tDelta.toFixed(2)} | ${totals.tLoad.toFixed(2)} | ${totals.tApply.toFixed(2)}`);
console.log(`delta sends ${(100 * totals.delta / totals.full).toFixed(1)}% of the bytes (saves ${mb(totals.full - totals.delta)} MB)`);
