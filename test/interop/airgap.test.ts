/**
 * The air-gap workflow end to end on real archives: load several ../shared fixtures into a fresh
 * store, list them, save with and without volumes, damage a volume (verify and load name it),
 * join, and have every real consumer load what save wrote.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { accepts, realToolsAvailable } from '../helpers/realtools.js';
import { SHARED, sharedAvailable } from '../helpers/shared.js';

const available = sharedAvailable() && realToolsAvailable();
const F = (p: string) => resolve(SHARED, 'fixtures/realtools', p);
const work = join(tmpdir(), `imgpack-airgap-${process.pid}`);
mkdirSync(work, { recursive: true });
afterAll(() => rmSync(work, { recursive: true, force: true }));
const store = join(work, 'store');
const cli = (...args: string[]) => runCli('--store', store, ...args);

describe.skipIf(!available)('carry images across an air gap', () => {
  it('load, images, save (plain and in volumes), damaged volume, join, real consumers', async () => {
    const load = await cli('load', '-i', F('docker-legacy/multi.tar'), '-i', F('buildkit/multiplatform-attest.oci.tar'), '-i', F('skopeo/app-zstd.oci-dir'), '-i', F('docker-containerd/app.tar'));
    expect(load.code, load.stderr).toBe(0);
    const images = (await cli('images', '--json')).json().images;
    expect(images.length).toBeGreaterThanOrEqual(6);
    expect(images.every((i: { stored: number }) => i.stored > 0)).toBe(true);

    const plain = join(work, 'plain.tar');
    expect((await cli('save', 'imgpack/app:1', 'imgpack/base:1', 'imgpack/app-bk:multi', '-o', plain)).code).toBe(0);
    const r = accepts(plain);
    expect(r.code, r.output).toBe(0);

    mkdirSync(join(work, 'usb'));
    const usb = join(work, 'usb', 'bundle.tar');
    const s = await cli('save', '--all', '-o', usb, '--volume-size', '1M');
    expect(s.code, s.stderr).toBe(0);
    expect((await runCli('verify', `${usb}.001`)).code).toBe(0);
    const joined = join(work, 'joined.tar');
    expect((await runCli('join', `${usb}.001`, '-o', joined)).code).toBe(0);
    const all = accepts(joined, false); // --all includes an image named only by a bare ref.name: unnamed
    expect([...all.consumers.values()].flat().filter((v) => v.verdict === 'REJECT'), all.output).toEqual([]);

    const bad = readFileSync(`${usb}.002`);
    bad[bad.length >> 1] ^= 0xff;
    writeFileSync(`${usb}.002`, bad);
    const v = await runCli('verify', `${usb}.imgpack.json`, '--json');
    expect(v.json().problems.map((p: { message: string }) => p.message)).toEqual(['bundle.tar.002: sha256 mismatch']);
    const other = await runCli('--store', join(work, 'store2'), 'load', '-i', `${usb}.001`);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('bundle.tar.002: sha256 mismatch');
  });

  it('--loadable-volumes: every real consumer loads each volume on its own', async () => {
    const usb = join(work, 'usb-loadable', 'bundle.tar');
    mkdirSync(join(work, 'usb-loadable'));
    // app:1 and app2:1 of multi.tar are about 2 MB each with a shared base: 3M holds one of them.
    const s = await cli('save', 'imgpack/app:1', 'imgpack/app2:1', 'imgpack/base:1', '-o', usb, '--volume-size', '3M', '--loadable-volumes');
    expect(s.code, s.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(`${usb}.imgpack.json`, 'utf8'));
    expect(manifest.volumes.length).toBeGreaterThanOrEqual(2);
    for (const v of manifest.volumes as { name: string }[]) {
      const r = accepts(join(work, 'usb-loadable', v.name));
      expect(r.code, `${v.name}: ${r.output}`).toBe(0);
    }
  });
});
