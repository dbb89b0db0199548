/**
 * Delta bundles end to end, on images the test builds: an inventory of what the other side has,
 * a delta that leaves that out (smaller by exactly the shared bytes), load into a store that has
 * the base (and refusal, adding nothing, into one that lacks it), verify, apply back to the very
 * bytes of the full archive.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const baseLayer = { files: { 'usr/lib/big': randomBytes(600_000).toString('base64') } };
const base = await buildImage({ names: ['base:1'], layers: [baseLayer] }, 'docker');
const app1 = await buildImage({ names: ['app:1'], layers: [baseLayer, { files: { app: 'version 1' } }] }, 'docker');
const app2 = await buildImage({ names: ['app:2'], layers: [baseLayer, { files: { app: 'version 2' } }, { files: { extra: randomBytes(50_000).toString('hex') } }] }, 'docker');
const baseTar = writeTemp(dir, 'base.tar', await tarBuffer(dockerArchiveEntries([base])));
const appsTar = writeTemp(dir, 'apps.tar', await tarBuffer(dockerArchiveEntries([app1, app2])));
const sharedBytes = base.layers[0].data.length;
const p = (name: string) => join(dir, name);
const cli = (store: string, ...args: string[]) => runCli('--store', p(store), ...args);

describe('inventory', () => {
  it('lists blobs, diffIDs and chain IDs, sorted, versioned', async () => {
    expect((await cli('there', 'load', '-i', baseTar)).code).toBe(0);
    const r = await cli('there', 'inventory', '-o', p('have.json'));
    expect(r.code, r.stderr).toBe(0);
    const inv = JSON.parse(readFileSync(p('have.json'), 'utf8'));
    expect(inv).toMatchObject({ kind: 'imgpack-inventory', version: 1, sources: ['store:'], images: [{ id: base.config.digest, names: ['docker.io/library/base:1'] }] });
    expect(inv.blobs).toContain(base.layers[0].digest);
    expect(inv.blobs).toContain(base.config.digest);
    expect(inv.diffIds).toEqual([base.layers[0].diffId]);
    expect(inv.chainIds).toEqual([base.layers[0].diffId]);
    expect([...inv.blobs].sort()).toEqual(inv.blobs);
    // of archives too, and to standard output
    const out = await runCli('inventory', baseTar, appsTar);
    expect(JSON.parse(out.stdout).chainIds.length).toBe(1 + 1 + 2); // the shared base, app1's top, app2's two
  });

  it('refuses a file that is not an inventory, naming it', async () => {
    writeFileSync(p('bad.json'), '{"kind":"something-else"}');
    const r = await runCli('convert', appsTar, '--exclude-from', p('bad.json'), '-o', p('x.tar'));
    expect([r.code, r.stderr]).toEqual([1, `imgpack: not an imgpack inventory (kind must be "imgpack-inventory") (${p('bad.json')})\n`]);
  });
});

describe('delta bundles', () => {
  it('leave out exactly the shared bytes; verify calls them a delta; apply gives back the full archive byte for byte', async () => {
    for (const format of ['hybrid', 'docker-archive', 'oci-archive']) {
      const full = p(`full.${format}.tar`);
      const delta = p(`delta.${format}.tar`);
      expect((await runCli('convert', appsTar, '--format', format, '-o', full)).code).toBe(0);
      const d = await runCli('convert', appsTar, '--format', format, '--exclude-from', p('have.json'), '-o', delta, '--json');
      expect(d.code, d.stderr).toBe(0);
      expect(d.json()).toMatchObject({ blobsOmitted: 1, bytesOmitted: sharedBytes });
      expect(statSync(full).size - statSync(delta).size).toBeGreaterThanOrEqual(sharedBytes - 4096);

      const v = await runCli('verify', delta, '--json');
      expect(v.code, v.stdout).toBe(0);
      expect(v.json().delta).toMatchObject({ match: 'blob', blobsOmitted: 1, bytesOmitted: sharedBytes });
      expect(v.json().delta.inventory).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect((await runCli('verify', delta, '--base', baseTar, '--json')).json().delta.complete).toBe(true);
      expect((await runCli('verify', delta, '--base', p('no-such.tar'))).code).toBe(2);
      const notBase = await runCli('verify', delta, '--base', appsTar.replace('apps', `delta.${format}`), '--json');
      expect(notBase.code).toBe(1); // a delta cannot be the base of itself: it lacks the blob
      expect(notBase.json().problems[0]).toMatchObject({ code: 'delta-base-missing', subject: base.layers[0].digest });

      const applied = p(`applied.${format}.tar`);
      const a = await runCli('apply', delta, '--base', baseTar, '-o', applied);
      expect(a.code, a.stderr).toBe(0);
      expect(readFileSync(applied).equals(readFileSync(full)), format).toBe(true);
    }
  });

  it('load completes a store that has the base, and refuses one that lacks it, adding nothing', async () => {
    const delta = p('delta.hybrid.tar');
    const empty = await cli('empty', 'load', '-i', delta);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/is a delta \(cut against inventory sha256:[0-9a-f]{64}\) and the store lacks 1 blob it left out: sha256:[0-9a-f]{64}; nothing was loaded/);
    expect(empty.stderr).toContain(base.layers[0].digest);
    expect(readdirSync(join(p('empty'), 'blobs', 'sha256'))).toEqual([]);

    const load = await cli('there', 'load', '-i', delta);
    expect(load.code, load.stderr).toBe(0);
    expect(load.stdout).toBe('Loaded image: app:1\nLoaded image: app:2\n');
    expect((await cli('there', 'verify', 'store:')).code).toBe(0);
    const ids = (await cli('there', 'images', '--json')).json().images.map((i: { id: string }) => i.id).sort();
    expect(ids).toEqual([base.config.digest, app1.config.digest, app2.config.digest].sort());
    // the store, completed, gives the same archive as the full one
    const saved = p('saved.tar');
    expect((await cli('there', 'save', 'app:1', 'app:2', '-o', saved)).code).toBe(0);
    expect(readFileSync(saved).equals(readFileSync(p('full.hybrid.tar')))).toBe(true);
    // apply with the store as the base
    const fromStore = p('from-store.tar');
    expect((await cli('there', 'apply', delta, '-o', fromStore)).code).toBe(0);
    expect(readFileSync(fromStore).equals(readFileSync(p('full.hybrid.tar')))).toBe(true);
  });

  it('apply without the base fails before writing, naming what is missing', async () => {
    // any archive holding the blob is a base, whatever its format
    expect((await runCli('apply', p('delta.hybrid.tar'), '--base', p('full.oci-archive.tar'), '-o', p('other-base.tar'))).code).toBe(0);
    expect(readFileSync(p('other-base.tar')).equals(readFileSync(p('full.hybrid.tar')))).toBe(true);
    const none = await runCli('apply', p('delta.hybrid.tar'), '--base', p('delta.oci-archive.tar'), '-o', p('never2.tar'));
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`the base lacks 1 blob the delta left out: ${base.layers[0].digest}`);
    expect(readdirSync(dir).some((f) => f.startsWith('never2'))).toBe(false);
  });

  it('--delta-docker leaves layers out by chain ID, keeping manifest.json whole, for docker load', async () => {
    const delta = p('docker-delta.tar');
    const r = await runCli('convert', appsTar, '--format', 'docker-archive', '--exclude-from', p('have.json'), '--delta-docker', '-o', delta);
    expect(r.code, r.stderr).toBe(0);
    const marker = (await runCli('inspect', delta, '--json')).json();
    expect(marker.images.length).toBe(2);
    expect((await runCli('verify', delta, '--json')).json().delta).toMatchObject({ match: 'chain', blobsOmitted: 1 });
    expect((await runCli('convert', appsTar, '--format', 'oci-archive', '--exclude-from', p('have.json'), '--delta-docker', '-o', p('no.tar'))).code).toBe(2);
    expect((await runCli('convert', appsTar, '--delta-docker', '-o', p('no2.tar'))).code).toBe(2);
  });

  it('a delta written in volumes says so in the transfer manifest, which lists every blob', async () => {
    const r = await runCli('convert', appsTar, '--exclude-from', p('have.json'), '-o', p('vol.tar'), '--volume-size', '1M');
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(p('vol.tar.imgpack.json'), 'utf8'));
    expect(m.delta).toMatchObject({ match: 'blob', omitted: [{ digest: base.layers[0].digest, size: sharedBytes }] });
    expect(m.blobs.map((b: { digest: string }) => b.digest)).toContain(app2.layers[2].digest);
    expect((await runCli('verify', p('vol.tar.001'), '--json')).json().delta.blobsOmitted).toBe(1);
  });
});
