/**
 * I/O faults: a failing input stream, short reads (the input shrinks under us), read errors, a
 * full disk (a small tmpfs; needs root and mount, else skipped), and outputs that appear whole
 * under their final name even when $TMPDIR is another file system.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImgpackError } from '../../src/errors.js';
import { openSource } from '../../src/formats/source.js';
import { selectRoots } from '../../src/ops/plan.js';
import { resolveOutput, writePlan } from '../../src/ops/write.js';
import { buildImage, dockerArchiveEntries, ociEntries, tarBuffer, writeEntriesToDir } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { exited, runProcess, startProcess } from '../helpers/spawn.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const img = await buildImage({ names: ['io/a:1'], layers: [{ files: { big: randomBytes(3 << 20).toString('base64') } }, { files: { small: 's' } }] }, 'docker');
const archiveBytes = await tarBuffer(dockerArchiveEntries([img]));
const archive = writeTemp(dir, 'a.tar', archiveBytes);

describe('failing and short input', () => {
  it('standard input that ends inside the gzip stream: a clear error, nothing written', () => {
    const gz = gzipSync(archiveBytes);
    const out = join(dir, 'from-stdin.tar');
    const r = runProcess(['convert', '-', '-o', out], { TMPDIR: dir }, gz.subarray(0, gz.length >> 1));
    expect(r.code).toBe(1);
    // Issue 13: a cut is called a cut, naming where it ends (no longer "gzip data is corrupt").
    expect(r.stderr).toMatch(/^imgpack: standard input is truncated: its gzip data ends early, inside member \S+\/layer\.tar \(byte \d+ of a member that needs \d+\); the copy is incomplete\n$/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.imgpack-') || f.startsWith('imgpack-'))).toEqual([]);
  });

  it('an input that shrinks after it was indexed (a short read): an error naming it, no output', async () => {
    const file = writeTemp(dir, 'shrinks.tar', archiveBytes);
    const source = await openSource(file);
    truncateSync(file, 4096);
    const out = join(dir, 'short.tar');
    const err = await writePlan({ roots: selectRoots(source, {}) }, resolveOutput(out, {}), {}).catch((e) => e);
    await source.close();
    expect(err).toBeInstanceOf(ImgpackError);
    expect((err as ImgpackError).line).toMatch(/shrinks\.tar|blob|layer|end of file/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('.short.tar'))).toEqual([]);
  });

  it('a read error (a layout blob replaced by a directory after indexing): an error, no output', async () => {
    const layout = join(dir, 'layout');
    const oci = await buildImage({ names: ['io/b:1'], layers: [{ files: { b: 'b' } }] });
    await writeEntriesToDir(ociEntries([oci]), layout);
    const source = await openSource(layout);
    const blob = join(layout, 'blobs', 'sha256', oci.layers[0].digest.slice(7));
    rmSync(blob);
    mkdirSync(blob);
    const out = join(dir, 'eisdir.tar');
    const err = await writePlan({ roots: selectRoots(source, {}) }, resolveOutput(out, {}), {}).catch((e) => e);
    await source.close();
    expect(err).toBeInstanceOf(ImgpackError);
    expect(existsSync(out)).toBe(false);
  });
});

describe('outputs appear whole, with $TMPDIR on another file system', () => {
  it('the final name is never seen with less than its final size', async () => {
    const shm = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(dir).dev ? '/dev/shm' : dir;
    const gz = writeTemp(dir, 'a.tar.gz', gzipSync(archiveBytes)); // spooled, decompressed, into $TMPDIR
    const out = join(dir, 'watched.tar');
    const child = startProcess(['convert', gz, '-o', out], { TMPDIR: shm, IMGPACK_TMPDIR: shm });
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const seen: number[] = [];
    let done = false;
    const end = exited(child).then((r) => { done = true; return r; });
    for (let i = 0; i < 20_000 && !done; i++) { // bounded polling
      if (existsSync(out)) seen.push(statSync(out).size);
      await new Promise((r) => setTimeout(r, 1));
    }
    expect((await end).code).toBe(0);
    clearTimeout(guard);
    const final = statSync(out).size;
    expect(seen.every((s) => s === final)).toBe(true);
    expect((await runCli('verify', out)).code).toBe(0);
  });
});

const canMount = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v mount'], { stdio: 'ignore' }).status === 0;
const mnt = join(dir, 'full');

describe.skipIf(!canMount)('a full disk (a 4 MiB tmpfs)', () => {
  beforeAll(() => {
    mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
  });
  afterAll(() => { spawnSync('umount', [mnt]); });

  it('load into a store on it: exit 2 naming the disk, the store stays consistent, a later load works', async () => {
    const store = join(mnt, 'store');
    const small = writeTemp(dir, 'small.tar', await tarBuffer(ociEntries([await buildImage({ names: ['io/small:1'], layers: [{ files: { s: 's' } }] })])));
    expect((await runCli('--store', store, 'load', '-i', small)).code).toBe(0);
    const r2 = await runCli('--store', store, 'load', '-i', archive); // about 4 MiB of layers: it cannot fit
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/^imgpack: (no space left on device|not enough free space)/);
    expect(r2.stderr.trim().split('\n')).toHaveLength(1);
    const v = await runCli('--store', store, 'verify', 'store:', '--json');
    expect(v.json().problems).toEqual([]);
    expect((await runCli('--store', store, 'images', '--json')).json().images.map((i: { name: string }) => i.name)).toEqual(['io/small:1'].map((n) => `docker.io/${n}`));
  });

  it('save with volumes onto it: exit 2, no volume and no manifest left', async () => {
    const store = join(dir, 'store-for-save');
    expect((await runCli('--store', store, 'load', '-i', archive)).code).toBe(0);
    const out = join(mnt, 'bundle.tar');
    const r = await runCli('--store', store, 'save', '--all', '-o', out, '--volume-size', '1M', '--no-space-check');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^imgpack: no space left on device \(.*bundle\.tar.*\)\n$/);
    expect(readdirSync(mnt).filter((f) => f.startsWith('bundle') || f.startsWith('.bundle'))).toEqual([]);
    expect(readFileSync(archive).equals(archiveBytes)).toBe(true);
  });
});
