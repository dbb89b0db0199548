/**
 * Messages, counts and help (issue 13 items 12, 13, 16, 17): what a command prints is what
 * happened, in the units the user gave, and counts of the same thing agree across commands.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, ociEntries, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const p = (name: string) => join(dir, name);
const baseLayer = { files: { 'usr/lib/big': randomBytes(600_000).toString('base64') } };
const base = await buildImage({ names: ['base:1'], layers: [baseLayer] }, 'docker');
const app = await buildImage({ names: ['app:1'], layers: [baseLayer, { files: { app: 'version 1' } }] }, 'docker');
const baseTar = writeTemp(dir, 'base.tar', await tarBuffer(dockerArchiveEntries([base])));
const appTar = writeTemp(dir, 'app.tar', await tarBuffer(dockerArchiveEntries([app])));
const ociTar = writeTemp(dir, 'app.oci.tar', await tarBuffer(ociEntries([app])));

describe('load says what it really added', () => {
  it('a second load of the same archive adds nothing and says what was already there', async () => {
    const store = p('store-again');
    const first = await runCli('--store', store, 'load', '-i', appTar, '--json');
    expect(first.code, first.stderr).toBe(0);
    const firstLoad = first.json().loaded[0];
    expect(firstLoad).toMatchObject({ blobsWritten: 4, blobsPresent: 0, bytesPresent: 0 }); // manifest, config, two layers
    const again = await runCli('--store', store, 'load', '-i', appTar, '--json');
    expect(again.json().loaded[0]).toMatchObject({ blobsWritten: 0, bytesWritten: 0, blobsPresent: firstLoad.blobsWritten, bytesPresent: firstLoad.bytesWritten });
    const human = await runCli('--store', store, 'load', '-i', appTar);
    expect(human.stderr).toContain(`${appTar}: nothing added to the store`);
    expect(human.stderr).toMatch(/already in the store \(\d+ blobs\), not written again/);
    expect(human.stderr).not.toMatch(/\d(kB|MB) added/);
  });

  it('a delta adds only its new bytes', async () => {
    const store = p('store-delta');
    expect((await runCli('--store', store, 'load', '-i', baseTar)).code).toBe(0);
    expect((await runCli('inventory', 'store:', '--store', store, '-o', p('have.json'))).code).toBe(0);
    expect((await runCli('convert', appTar, '--exclude-from', p('have.json'), '-o', p('delta.tar'))).code).toBe(0);
    const r = await runCli('--store', store, 'load', '-i', p('delta.tar'), '--json');
    expect(r.code, r.stderr).toBe(0);
    const loaded = r.json().loaded[0];
    expect(loaded.bytesWritten).toBeLessThan(20_000); // the app layer, its config and manifest
    expect(loaded.bytesPresent).toBeGreaterThanOrEqual(base.layers[0].data.length);
    expect(loaded.blobsPresent).toBeGreaterThanOrEqual(1);
  });
});

describe('a blob is every content-addressed blob, for convert and verify alike', () => {
  for (const format of ['hybrid', 'docker-archive', 'oci-archive', 'oci-layout']) {
    it(`convert --format ${format} and verify of its output count the same blobs and bytes`, async () => {
      const out = p(`count-${format}${format === 'oci-layout' ? '' : '.tar'}`);
      const c = await runCli('convert', ociTar, '--format', format, '-o', out, '--json');
      expect(c.code, c.stderr).toBe(0);
      const v = (await runCli('verify', out, '--json')).json();
      expect(v.blobsChecked).toBe(c.json().blobsWritten);
      expect(v.bytesChecked).toBe(c.json().bytesWritten);
    });
  }
});

describe('volume sets name the file that is wanted', () => {
  const bigLayer = { files: { big: randomBytes(1_500_000).toString('base64') } };
  const setup = async (name: string) => {
    const img = await buildImage({ names: [`${name}:1`], layers: [bigLayer] }, 'docker');
    const tar = writeTemp(dir, `${name}-src.tar`, await tarBuffer(dockerArchiveEntries([img])));
    const c = await runCli('convert', tar, '-o', p(`${name}.tar`), '--volume-size', '1M');
    expect(c.code, c.stderr).toBe(0);
    return c;
  };

  it('--volume-size 1M reports the volumes in MiB, the unit given', async () => {
    const c = await setup('units');
    expect(c.stderr).toMatch(/units\.tar\.001 \(1MiB\)/);
    expect(c.stderr).not.toMatch(/\(1\.05MB\)/);
  });

  it('verify FILE.002 says it is volume 2 and names FILE.001', async () => {
    await setup('second');
    const r = await runCli('verify', p('second.tar.002'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`second.tar.002 is volume 2 of a set, not an archive of its own: name the first volume, ${p('second.tar.001')}`);
  });

  it('without its manifest: --trust names FILE.imgpack.json, repair says the manifest is missing', async () => {
    await setup('nomanifest');
    const { renameSync } = await import('node:fs');
    renameSync(p('nomanifest.tar.imgpack.json'), p('elsewhere.json'));
    expect((await runCli('key', 'generate', '-o', p('k'))).code).toBe(0);
    const trust = await runCli('verify', p('nomanifest.tar.001'), '--trust', p('k.pub'));
    expect(trust.code).toBe(1);
    expect(trust.stderr).toContain(`(${p('nomanifest.tar.imgpack.json')})`);
    const repair = await runCli('repair', p('nomanifest.tar.001'));
    expect(repair.code).toBe(2);
    expect(repair.stderr).toContain('the transfer manifest nomanifest.tar.imgpack.json is missing');
    // the first volume gone as well: said so, not "name the first volume"
    renameSync(p('nomanifest.tar.001'), p('gone'));
    const gone = await runCli('repair', p('nomanifest.tar.001'));
    expect(gone.stderr).toContain('nomanifest.tar.001 is missing, and so is the transfer manifest nomanifest.tar.imgpack.json');
    const trustGone = await runCli('verify', p('nomanifest.tar.001'), '--trust', p('k.pub'));
    expect(trustGone.stderr).toContain(`(${p('nomanifest.tar.imgpack.json')})`);
  });

  it('chunk says "1 volume"', async () => {
    const r = await runCli('chunk', baseTar, '--volume-size', '2M');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('1 volume and');
    expect(r.stdout).toMatch(/base\.tar\.001 {2}\d+(\.\d+)?MiB {2}sha256:/);
  });
});

describe('images -q and --no-trunc', () => {
  it('-q prints only image IDs, --no-trunc in full', async () => {
    const store = p('store-images');
    expect((await runCli('--store', store, 'load', '-i', appTar, '-i', baseTar)).code).toBe(0);
    const ids = [app.config.digest, base.config.digest];
    const q = await runCli('--store', store, 'images', '-q');
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout.trim().split('\n').sort()).toEqual(ids.map((d) => d.slice(7, 19)).sort());
    const full = await runCli('--store', store, 'images', '-q', '--no-trunc');
    expect(full.stdout.trim().split('\n').sort()).toEqual([...ids].sort());
    const table = await runCli('--store', store, 'images', '--no-trunc');
    expect(table.stdout).toContain(app.config.digest);
  });
});

describe('help', () => {
  /** Every command's help, nested ones (key generate) too. */
  async function everyHelp(): Promise<Map<string, string>> {
    const helps = new Map<string, string>([['imgpack', (await runCli('--help')).stdout]]);
    const names = (h: string) => [...(h.split(/\nCommands:\n/)[1] ?? '').matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((n) => n !== 'help');
    for (const name of names(helps.get('imgpack')!)) {
      const h = (await runCli(name, '--help')).stdout;
      helps.set(name, h);
      for (const sub of names(h)) helps.set(`${name} ${sub}`, (await runCli(name, sub, '--help')).stdout);
    }
    return helps;
  }

  it('no option prints "(default: [])", --layers has one default and lists every value, pull -o says what it does', async () => {
    const helps = await everyHelp();
    expect(helps.size).toBeGreaterThan(25);
    for (const [name, text] of helps) {
      expect(text, name).not.toContain('default: []');
      const layers = /--layers <policy>[\s\S]*?(?=\n {2}-)/.exec(text)?.[0].replace(/\s+/g, ' ');
      if (!layers) continue;
      expect(layers.match(/default/g), `${name}: ${layers}`).toHaveLength(1);
      for (const value of ['auto', 'keep', 'gzip', 'zstd', 'uncompressed']) expect(layers, name).toContain(`"${value}"`);
    }
    expect(helps.get('load')!.replace(/\s+/g, ' ')).toContain('repeatable; default: standard input --json'); // its own default, not commander's []
    expect(helps.get('pull')).not.toContain('rewriting the source');
    expect(helps.get('pull')!.replace(/\s+/g, ' ')).toContain('(default: the local store)');
  });

  it('the command reference (docs/commands.md) lists every --layers value', async () => {
    const { readFileSync } = await import('node:fs');
    const reference = readFileSync(new URL('../../docs/commands.md', import.meta.url), 'utf8');
    expect(reference).toContain('--layers auto|keep|gzip|zstd|uncompressed');
  });
});

describe('counts read right in other commands', () => {
  it('inventory of one image says "1 image", not "image(s)"', async () => {
    const r = await runCli('inventory', baseTar, '-o', p('inv-one.json'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/: 1 image, \d+ blobs, 1 chain ID\n/);
  });
});
