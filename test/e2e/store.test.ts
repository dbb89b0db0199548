import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, ociEntries, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { exited, runProcess, startProcess } from '../helpers/spawn.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const base = { files: { 'etc/os-release': 'ID=test\n' } };
const a = await buildImage({ names: ['busybox:latest'], layers: [base, { files: { a: 'a' } }] }, 'docker');
const b = await buildImage({ names: ['quay.io/team/b:2'], layers: [base, { files: { b: 'b' }, compression: 'gzip' }] });
const archiveA = writeTemp(dir, 'a.tar', await tarBuffer(dockerArchiveEntries([a])));
const archiveB = writeTemp(dir, 'b.tar', await tarBuffer(ociEntries([b])));
let n = 0;
const newStore = () => join(dir, `store-${n++}`);
const inStore = (store: string, ...args: string[]) => runCli('--store', store, ...args);

/** A bigger archive (random layers) so that a load takes long enough to be killed mid-way. */
async function bigArchive(name: string, layers = 6, size = 3 << 20) {
  const img = await buildImage({ names: [`big/${name}:1`], layers: Array.from({ length: layers }, (_, i) => ({ files: { [`f${i}`]: randomBytes(size).toString('base64') } })) }, 'docker');
  return writeTemp(dir, `${name}.tar`, await tarBuffer(dockerArchiveEntries([img])));
}

describe('the local store', () => {
  it('loads, lists, renames, removes, prunes and saves', async () => {
    const store = newStore();
    const load = await inStore(store, 'load', '-i', archiveA, '-i', archiveB);
    expect(load.code, load.stderr).toBe(0);
    expect(load.stdout).toBe('Loaded image: busybox:latest\nLoaded image: quay.io/team/b:2\n');
    const list = (await inStore(store, 'images', '--json')).json().images;
    expect(list.map((i: { name: string }) => i.name).sort()).toEqual(['docker.io/library/busybox:latest', 'quay.io/team/b:2']);
    const busybox = list.find((i: { name: string }) => i.name.includes('busybox'));
    expect(busybox.size).toBe(a.layers.reduce((s, l) => s + l.uncompressed.length, 0));
    expect(busybox.shared).toBeGreaterThan(0);
    expect(busybox.unique).toBe(busybox.stored - busybox.shared);

    expect((await inStore(store, 'tag', 'store:', 'busybox', 'mybusybox:1')).code).toBe(0);
    expect((await inStore(store, 'images', 'mybusybox')).stdout).toMatch(/^mybusybox\s+1\s+/m);
    const rmi = await inStore(store, 'rmi', 'quay.io/team/b:2');
    expect(rmi.stdout).toBe(`Untagged: quay.io/team/b:2\nDeleted: ${b.config.digest}\n`);
    const prune = await inStore(store, 'prune', '--json');
    expect(prune.json().blobs).toBe(3); // b's manifest, config and gzip layer; the shared base stays
    expect((await inStore(store, 'verify', 'store:')).code).toBe(0);

    const saved = join(dir, 'saved.tar');
    expect((await inStore(store, 'save', 'busybox', '-o', saved)).code).toBe(0);
    const doc = (await runCli('inspect', saved, '--json')).json();
    // As docker save: the names asked for (every tag of busybox), not the image's other names.
    expect(doc.images.map((i: { id: string; repoTags: string[] }) => [i.id, i.repoTags])).toEqual([[a.config.digest, ['docker.io/library/busybox:latest']]]);
    expect((await inStore(store, 'save', '-o', join(dir, 'x.tar'))).code).toBe(2);
    expect((await inStore(store, 'inspect', 'store:', '--json')).json().format).toBe('store');
  });

  it('a corrupt input adds nothing', async () => {
    const store = newStore();
    await inStore(store, 'load', '-i', archiveB);
    const before = readFileSync(join(store, 'index.json'));
    const blobsBefore = readdirSync(join(store, 'blobs', 'sha256')).sort();
    const bad = Buffer.from(readFileSync(archiveA));
    bad[bad.indexOf(Buffer.from('ID=test'))] ^= 1;
    const r = await inStore(store, 'load', '-i', writeTemp(dir, 'bad.tar', bad), '-i', archiveA);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^imgpack: .*bad\.tar has 1 problem; nothing was loaded/);
    expect(readFileSync(join(store, 'index.json')).equals(before)).toBe(true);
    expect(readdirSync(join(store, 'blobs', 'sha256')).sort()).toEqual(blobsBefore);
  });

  it('a blob found corrupt while it is copied in adds nothing, even after a good input of the same load', async () => {
    // A fresh store: the corrupt layer is one the load must write, so the copy itself catches it.
    const store = newStore();
    const unique = await buildImage({ names: ['unique:1'], layers: [{ files: { u: 'only in this image' } }] }, 'docker');
    const bad = Buffer.from(await tarBuffer(dockerArchiveEntries([unique])));
    bad[bad.indexOf(Buffer.from('only in this image'))] ^= 1;
    const r = await inStore(store, 'load', '-i', archiveB, '-i', writeTemp(dir, 'bad-unique.tar', bad));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^imgpack: .*bad-unique\.tar has 1 problem; nothing was loaded\. First: .*digest/);
    expect(r.stdout).toBe('');
    expect(JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')).manifests).toEqual([]);
    const left = existsSync(join(store, 'blobs', 'sha256')) ? readdirSync(join(store, 'blobs', 'sha256')) : [];
    expect(left).toEqual([]); // neither b's blobs nor temporaries
  });

  it('two processes loading at once both succeed and neither loses an image', async () => {
    const store = newStore();
    const [x, y] = [await bigArchive('x', 4, 1 << 20), await bigArchive('y', 4, 1 << 20)];
    const p1 = startProcess(['--store', store, 'load', '-i', x, '-i', archiveA]);
    const p2 = startProcess(['--store', store, 'load', '-i', y, '-i', archiveB]);
    const [r1, r2] = await Promise.all([exited(p1), exited(p2)]);
    expect([r1.code, r2.code]).toEqual([0, 0]);
    const names = (await inStore(store, 'images', '--json')).json().images.map((i: { name: string }) => i.name).sort();
    expect(names).toEqual(['docker.io/big/x:1', 'docker.io/big/y:1', 'docker.io/library/busybox:latest', 'quay.io/team/b:2']);
    expect((await inStore(store, 'verify', 'store:')).code).toBe(0);
  });

  it('kill -9 at any point leaves a store that verifies, and a rerun completes', async () => {
    const store = newStore();
    await inStore(store, 'load', '-i', archiveB);
    const big = await bigArchive('killed');
    const iterations = Number(process.env.IMGPACK_KILL_ITERATIONS || 6);
    for (let i = 0; i < iterations; i++) {
      const child = startProcess(['--store', store, 'load', '-i', big]);
      await new Promise((r) => setTimeout(r, 80 + Math.random() * 600));
      child.kill('SIGKILL');
      await exited(child);
      const v = await inStore(store, 'verify', 'store:', '--json');
      expect(v.json().problems, `iteration ${i}`).toEqual([]);
    }
    expect((await inStore(store, 'load', '-i', big)).code).toBe(0); // a stale lock, if any, is recovered
    expect((await inStore(store, 'images', '--json')).json().images.map((i: { name: string }) => i.name).sort()).toEqual(['docker.io/big/killed:1', 'quay.io/team/b:2']);
    await inStore(store, 'prune');
    expect((await inStore(store, 'verify', 'store:')).code).toBe(0);
    expect(readdirSync(join(store, '.pending'))).toEqual([]);
  });

  it('recovers a lock left by a dead process', async () => {
    const store = newStore();
    await inStore(store, 'load', '-i', archiveA);
    writeFileSync(join(store, '.lock'), JSON.stringify({ pid: 999999, host: (await import('node:os')).hostname(), since: new Date().toISOString() }));
    const r = await inStore(store, 'load', '-i', archiveB);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(store, '.lock'))).toBe(false);
  });

  it('prune running beside a load never deletes a blob the load is about to reference', async () => {
    const store = newStore();
    const big = await bigArchive('beside', 8, 1 << 20);
    const loading = startProcess(['--store', store, 'load', '-i', big]);
    let prunes = 0;
    let done = false;
    const finished = exited(loading).then((r) => { done = true; return r; });
    const deadline = Date.now() + 60_000;
    while (!done && prunes < 200 && Date.now() < deadline) { // bounded: a hung load must not spin forever
      runProcess(['--store', store, 'prune']);
      prunes++;
      await new Promise((r) => setTimeout(r, 5)); // let the load's exit be seen
    }
    expect((await finished).code).toBe(0);
    expect(prunes).toBeGreaterThan(0);
    expect((await inStore(store, 'verify', 'store:', '--json')).json().problems).toEqual([]);
    expect((await inStore(store, 'images', '--json')).json().images.map((i: { name: string }) => i.name)).toEqual(['docker.io/big/beside:1']);
  });
});
