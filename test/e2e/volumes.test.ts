import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAT32_MAX, parseSize } from '../../src/io/volumes.js';
import { buildImage, dockerArchiveEntries, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const img = await buildImage({ names: ['big:1'], layers: [{ files: { a: randomBytes(1_500_000).toString('base64') } }, { files: { b: randomBytes(900_000).toString('hex') } }] }, 'docker');
const archive = writeTemp(dir, 'big.tar', await tarBuffer(dockerArchiveEntries([img])));
let n = 0;

async function volumes(extra: string[] = []) {
  const target = join(dir, `set${n++}`, 'bundle.tar');
  mkdirSync(join(target, '..'));
  const r = await runCli('convert', archive, '-o', target, '--volume-size', '1M', ...extra);
  expect(r.code, r.stderr).toBe(0);
  return target;
}

describe('sizes', () => {
  it('parses CLI.md sizes: binary units, bytes, fat32', () => {
    expect(parseSize('fat32')).toBe(4294967295);
    expect(parseSize('4G')).toBe(4 * 1024 ** 3);
    expect(parseSize('4G')).toBeGreaterThan(FAT32_MAX); // 4G does NOT fit on FAT32
    expect(parseSize('3900M')).toBe(3900 * 1024 * 1024);
    expect(parseSize('2097152')).toBe(2097152);
    expect(() => parseSize('12x')).toThrow(/a size is/);
    expect(() => parseSize('10K')).toThrow(/at least 1M/);
  });
});

describe('volumes', () => {
  it('splits into FILE.001... with a transfer manifest; cat of the volumes is the archive', async () => {
    const target = await volumes();
    const files = readdirSync(join(target, '..')).sort();
    expect(files).toEqual(['bundle.tar.001', 'bundle.tar.002', 'bundle.tar.003', 'bundle.tar.004', 'bundle.tar.imgpack.json']);
    const manifest = JSON.parse(readFileSync(`${target}.imgpack.json`, 'utf8'));
    expect(manifest).toMatchObject({ kind: 'imgpack-transfer', imgpackVersion: expect.any(String), format: 'hybrid', images: [{ id: img.config.digest, names: ['docker.io/library/big:1'] }] });
    expect(manifest.volumes.map((v: { size: number }) => v.size).slice(0, 3)).toEqual([1 << 20, 1 << 20, 1 << 20]);
    const whole = Buffer.concat(files.filter((f) => /\.\d{3}$/.test(f)).map((f) => readFileSync(join(target, '..', f))));
    expect(whole.length).toBe(manifest.size);
    const concatenated = writeTemp(dir, `cat${n}.tar`, whole);
    expect((await runCli('verify', concatenated)).code).toBe(0);
    for (const spec of [`${target}.001`, `${target}.imgpack.json`]) {
      const v = await runCli('verify', spec, '--json');
      expect(v.json(), spec).toMatchObject({ ok: true, images: 1 });
    }
  });

  it('a single volume set still starts at .001', async () => {
    const target = join(dir, 'one', 'small.tar');
    mkdirSync(join(dir, 'one'));
    expect((await runCli('convert', archive, '-o', target, '--volume-size', '1G')).code).toBe(0);
    expect(readdirSync(join(dir, 'one')).sort()).toEqual(['small.tar.001', 'small.tar.imgpack.json']);
  });

  it('names a missing, truncated or altered volume before anything is read', async () => {
    const target = await volumes();
    const altered = readFileSync(`${target}.002`);
    altered[100] ^= 1;
    writeFileSync(`${target}.002`, altered);
    truncateSync(`${target}.003`, 1000);
    const lastVolumeSize = JSON.parse(readFileSync(`${target}.imgpack.json`, 'utf8')).volumes[3].size;
    rmSync(`${target}.004`);
    const v = await runCli('verify', `${target}.001`, '--json');
    expect(v.code).toBe(1);
    expect(v.json().problems.map((p: { message: string }) => p.message)).toEqual([
      'bundle.tar.002: sha256 mismatch',
      'bundle.tar.003 is truncated: 1000 of the 1048576 bytes the manifest gives (1047576 missing)',
      `bundle.tar.004 missing (${lastVolumeSize} bytes)`,
    ]);
    const store = join(dir, `store${n}`);
    const load = await runCli('--store', store, 'load', '-i', `${target}.imgpack.json`);
    expect(load.code).toBe(1);
    expect(load.stderr).toBe(`imgpack: volumes are missing or damaged, nothing was read: bundle.tar.002: sha256 mismatch; bundle.tar.003 is truncated: 1000 of the 1048576 bytes the manifest gives (1047576 missing); bundle.tar.004 missing (${lastVolumeSize} bytes) (${target}.imgpack.json)\n`);
    expect(existsSync(join(store, 'index.json'))).toBe(false);
  });

  it('loads from volumes, joins them checking every checksum, and chunks an existing archive', async () => {
    const target = await volumes(['--compress', 'gzip']);
    const store = join(dir, `store${n}`);
    const load = await runCli('--store', store, 'load', '-i', `${target}.001`);
    expect(load.code, load.stderr).toBe(0);
    expect(load.stdout).toBe('Loaded image: big:1\n');
    const joined = join(dir, `joined${n}.tar.gz`);
    expect((await runCli('join', `${target}.001`, '-o', joined)).code).toBe(0);
    expect((await runCli('inspect', joined, '--json')).json().compression).toBe('gzip');

    const copy = writeTemp(dir, 'tochunk.tar', readFileSync(archive));
    const c = await runCli('chunk', copy, '--volume-size', '1M', '--json');
    expect(c.code, c.stderr).toBe(0);
    expect(c.json().images).toEqual([{ id: img.config.digest, names: ['docker.io/library/big:1'], platform: 'linux/amd64' }]);
    const back = join(dir, 'rejoined.tar');
    expect((await runCli('join', `${copy}.imgpack.json`, '-o', back)).code).toBe(0);
    expect(readFileSync(back).equals(readFileSync(archive))).toBe(true);
  });

  it('save from the store with volumes', async () => {
    const store = join(dir, `store-save`);
    await runCli('--store', store, 'load', '-i', archive);
    const target = join(dir, 'usb', 'bundle.tar');
    mkdirSync(join(dir, 'usb'));
    const r = await runCli('--store', store, 'save', 'big:1', '-o', target, '--volume-size', '1M');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/4 volumes: bundle\.tar\.001/);
    expect((await runCli('verify', `${target}.001`)).code).toBe(0);
  });
});

// Three images of about 400 kB each, sharing a small base: two fit in a 1M volume, not three.
const sharedBase = { files: { 'etc/os-release': 'ID=base\n' } };
const apps = await Promise.all([1, 2, 3].map((i) => buildImage({ names: [`app${i}:1`], layers: [sharedBase, { files: { [`app${i}`]: randomBytes(300_000).toString('base64') } }] }, 'docker')));
const three = writeTemp(dir, 'three.tar', await tarBuffer(dockerArchiveEntries(apps)));

describe('loadable volumes', () => {

  it('each volume is a complete archive of whole images; verify and load take the set; damage is named first', async () => {
    const target = join(dir, 'loadable', 'bundle.tar');
    mkdirSync(join(target, '..'));
    const r = await runCli('convert', three, '-o', target, '--volume-size', '1M', '--loadable-volumes', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(target, '..')).sort()).toEqual(['bundle.tar.001', 'bundle.tar.002', 'bundle.tar.imgpack.json']);
    const manifest = JSON.parse(readFileSync(`${target}.imgpack.json`, 'utf8'));
    expect(manifest.loadable).toBe(true);
    expect(manifest.volumes.map((v: { images: string[] }) => v.images.length).sort()).toEqual([1, 2]);
    expect(manifest.volumes.flatMap((v: { images: string[] }) => v.images).sort()).toEqual(apps.map((a) => a.config.digest).sort());
    // Each volume alone: a hybrid archive with its images and the shared base inside it.
    for (const v of manifest.volumes as { name: string; images: string[] }[]) {
      const doc = (await runCli('inspect', join(dir, 'loadable', v.name), '--json')).json();
      expect(doc.format).toBe('hybrid');
      expect(doc.images.map((i: { id: string }) => i.id).sort()).toEqual([...v.images].sort());
      expect((await runCli('verify', join(dir, 'loadable', v.name))).code).toBe(0);
    }
    const whole = await runCli('verify', `${target}.imgpack.json`, '--json');
    expect(whole.code, whole.stdout).toBe(0);
    expect(whole.json().images).toBe(3);
    const store = join(dir, 'loadable-store');
    const load = await runCli('--store', store, 'load', '-i', `${target}.001`);
    expect(load.code, load.stderr).toBe(0);
    expect(load.stdout.split('\n').filter(Boolean).sort()).toEqual(['Loaded image: app1:1', 'Loaded image: app2:1', 'Loaded image: app3:1']);
    expect((await runCli('join', `${target}.001`, '-o', join(dir, 'x.tar'))).code).toBe(2); // nothing to join

    const second = join(dir, 'loadable', 'bundle.tar.002');
    const bytes = readFileSync(second);
    bytes[bytes.length >> 1] ^= 1;
    writeFileSync(second, bytes);
    const bad = await runCli('verify', `${target}.001`, '--json');
    expect(bad.code).toBe(1);
    expect(bad.json().problems.map((p: { message: string }) => p.message)).toEqual(['bundle.tar.002: sha256 mismatch']);
    const refused = await runCli('--store', join(dir, 'loadable-store-2'), 'load', '-i', `${target}.imgpack.json`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^imgpack: volumes are missing or damaged, nothing was read: bundle\.tar\.002: sha256 mismatch/);
  });

  it('an image bigger than a volume is refused, naming it', async () => {
    const r = await runCli('convert', archive, '-o', join(dir, 'toobig.tar'), '--volume-size', '1M', '--loadable-volumes');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^imgpack: big:1 needs about \d+ bytes, more than a volume of 1048576: a loadable volume holds whole images/);
    expect(existsSync(join(dir, 'toobig.tar.001'))).toBe(false);
  });
});
