/**
 * Parity volumes: save --volume-size 1M --parity 2; every single volume and every pair (data or
 * parity) destroyed or corrupted is reported as repairable and rebuilt byte for byte; three are
 * unrepairable, reported before anything is loaded.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const img = await buildImage({ names: ['big:1'], layers: [{ files: { a: randomBytes(1_200_000).toString('base64') } }, { files: { b: randomBytes(400_000).toString('hex') } }] }, 'docker');
const archive = writeTemp(dir, 'big.tar', await tarBuffer(dockerArchiveEntries([img])));
const set = join(dir, 'usb', 'bundle.tar');
mkdirSync(join(dir, 'usb'));
const pristine = join(dir, 'pristine');
mkdirSync(pristine);

let volumes: string[] = [];

function restore() {
  for (const v of volumes) copyFileSync(join(pristine, v), join(dir, 'usb', v));
}

function damage(name: string, how: 'delete' | 'corrupt' | 'truncate') {
  const f = join(dir, 'usb', name);
  if (how === 'delete') rmSync(f);
  else if (how === 'truncate') truncateSync(f, 1000);
  else {
    const b = readFileSync(f);
    b[b.length >> 1] ^= 0x5a;
    writeFileSync(f, b);
  }
}

function sameAsPristine(): boolean {
  return volumes.every((v) => existsSync(join(dir, 'usb', v)) && readFileSync(join(dir, 'usb', v)).equals(readFileSync(join(pristine, v))));
}

describe('parity volumes', () => {
  it('are written as FILE.p01.. beside the data volumes, recorded in the transfer manifest; cat FILE.0* is still the archive', async () => {
    const r = await runCli('convert', archive, '-o', set, '--volume-size', '1M', '--parity', '2');
    expect(r.code, r.stderr).toBe(0);
    volumes = readdirSync(join(dir, 'usb')).filter((f) => !f.endsWith('.json')).sort();
    expect(volumes).toEqual(['bundle.tar.001', 'bundle.tar.002', 'bundle.tar.003', 'bundle.tar.p01', 'bundle.tar.p02']);
    for (const v of volumes) copyFileSync(join(dir, 'usb', v), join(pristine, v));
    const m = JSON.parse(readFileSync(`${set}.imgpack.json`, 'utf8'));
    expect(m.parity).toMatchObject({ scheme: 'reed-solomon-gf256-cauchy', shardSize: 1 << 20, volumes: [{ name: 'bundle.tar.p01', size: 1 << 20 }, { name: 'bundle.tar.p02', size: 1 << 20 }] });
    const whole = Buffer.concat(volumes.filter((v) => /\.0\d\d$/.test(v)).map((v) => readFileSync(join(dir, 'usb', v))));
    expect(whole.length).toBe(m.size);
    expect((await runCli('verify', `${set}.001`)).code).toBe(0);
    expect((await runCli('convert', archive, '-o', join(dir, 'x.tar'), '--parity', '2')).code).toBe(2);
  });

  it('any one or two damaged volumes, in every position, are repairable and repaired byte for byte', async () => {
    const hows = ['delete', 'corrupt', 'truncate'] as const;
    let n = 0;
    const cases: string[][] = [...volumes.map((v) => [v]), ...volumes.flatMap((a, i) => volumes.slice(i + 1).map((b) => [a, b]))];
    for (const damaged of cases) {
      damaged.forEach((v, i) => damage(v, hows[(n + i) % 3]));
      const v = await runCli('verify', `${set}.001`, '--json');
      expect(v.code, damaged.join()).toBe(1);
      const last = v.json().problems.at(-1);
      expect(last, damaged.join()).toMatchObject({ code: 'volumes-repairable', message: `${damaged.length} damaged, 2 parity volumes: repairable with imgpack repair bundle.tar.001` });
      const r = await runCli('repair', `${set}.001`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`Repaired: ${damaged.join(', ')}\n`);
      expect(sameAsPristine(), damaged.join()).toBe(true);
      n++;
    }
    expect(n).toBe(5 + 10);
    expect((await runCli('repair', `${set}.001`)).stdout).toMatch(/nothing to repair/);
  });

  it('a damaged parity volume does not stop a load; verify still reports it', async () => {
    damage('bundle.tar.p02', 'corrupt');
    const load = await runCli('--store', join(dir, 'store-p'), 'load', '-i', `${set}.001`);
    expect(load.code, load.stderr).toBe(0);
    expect((await runCli('verify', `${set}.001`)).code).toBe(1);
    restore();
  });

  it('three damaged volumes are unrepairable, reported before anything is loaded', async () => {
    damage('bundle.tar.001', 'delete');
    damage('bundle.tar.003', 'corrupt');
    damage('bundle.tar.p01', 'truncate');
    const v = await runCli('verify', `${set}.imgpack.json`, '--json');
    expect(v.json().problems.at(-1)).toMatchObject({ code: 'volumes-unrepairable', message: '3 damaged but parity rebuilds at most 2: unrepairable, copy the volumes again' });
    const store = join(dir, 'store-x');
    const load = await runCli('--store', store, 'load', '-i', `${set}.001`);
    expect(load.code).toBe(1);
    expect(load.stderr).toContain('unrepairable');
    expect(existsSync(join(store, 'index.json'))).toBe(false);
    const r = await runCli('repair', `${set}.001`);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`imgpack: 3 volumes are damaged (bundle.tar.001, bundle.tar.003, bundle.tar.p01) but parity rebuilds at most 2: unrepairable (${set}.001)\n`);
    restore();
  });
});
