import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, ociEntries, tarBuffer } from '../../src/testing/build.js';
import { VERSION } from '../../src/version.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const a = await buildImage({ names: ['busybox:latest', 'mybusybox:1'], layers: [{ files: { 'bin/sh': 'sh' } }] }, 'docker');
const b = await buildImage({ names: ['quay.io/team/app:2'], layers: [{ files: { 'bin/sh': 'sh' } }, { files: { app: 'x' } }] }, 'docker');
const archive = writeTemp(dir, 'two.tar', await tarBuffer(dockerArchiveEntries([a, b])));
const oci = writeTemp(dir, 'oci.tar', await tarBuffer(ociEntries([a, b])));
/** node's argv for a real process: the sources (cwd test/e2e), or the single-file build of IMGPACK_BIN. */
const fromSource = (...args: string[]) => (process.env.IMGPACK_BIN ? [process.env.IMGPACK_BIN, ...args] : ['--import', 'tsx', 'bin-src.ts', ...args]);

describe('imgpack inspect', () => {
  it('prints the images with familiar names', async () => {
    const r = await runCli('inspect', archive);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('docker-archive, 2 images');
    expect(r.stdout).toMatch(new RegExp(`${a.config.digest.slice(7, 19)}\\s+busybox:latest, mybusybox:1\\s+linux/amd64`));
    expect(r.stdout).toContain('quay.io/team/app:2');
    expect(r.stdout).toContain('1 layer is used by several images');
  });

  it('--json gives the documented document with full references', async () => {
    const r = await runCli('inspect', archive, '--json');
    const doc = r.json();
    expect(doc.format).toBe('docker-archive');
    expect(doc.compression).toBe('none');
    expect(doc.images[0]).toMatchObject({
      id: a.config.digest,
      repoTags: ['docker.io/library/busybox:latest', 'docker.io/library/mybusybox:1'],
      platform: { os: 'linux', architecture: 'amd64' },
      layers: [{ digest: a.layers[0].diffId, diffId: a.layers[0].diffId, size: a.layers[0].data.length }],
    });
  });

  it('--image selects by name, short ID prefix or digest', async () => {
    for (const ref of ['busybox', 'docker.io/library/mybusybox:1', a.config.digest.slice(7, 19), a.config.digest]) {
      const doc = (await runCli('inspect', archive, '--json', '--image', ref)).json();
      expect(doc.images.map((i: { id: string }) => i.id)).toEqual([a.config.digest]);
    }
    const m = (await runCli('inspect', oci, '--json', '--image', b.manifest.digest)).json();
    expect(m.images.map((i: { id: string }) => i.id)).toEqual([b.config.digest]);
    const none = await runCli('inspect', archive, '--image', 'nginx');
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('imgpack: no image in ' + archive + ' matches nginx (nginx)\n');
  });


  it('reads standard input', async () => {
    const r = spawnSync(process.execPath, fromSource('inspect', '-', '--json'), { input: gzipSync(readFileSync(archive)), cwd: new URL('.', import.meta.url).pathname });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(JSON.parse(r.stdout.toString()).compression).toBe('gzip');
  });
});

describe('imgpack verify', () => {
  it('exits 0 on a sound archive and prints a summary', async () => {
    const r = await runCli('verify', archive);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/OK \(docker-archive, 2 images, \d+ blobs/);
  });

  it('exits 1 with every problem, and --json carries them', async () => {
    const bad = Buffer.from(readFileSync(archive));
    const at = bad.indexOf(Buffer.from('sh'), 1024 + 512 * 3);
    bad[at] = 0x53;
    const path = writeTemp(dir, 'bad.tar', bad);
    const r = await runCli('verify', path, '--json');
    expect(r.code).toBe(1);
    const doc = r.json();
    expect(doc.ok).toBe(false);
    expect(doc.problems[0]).toMatchObject({ code: 'diffid-mismatch' });
    expect(Object.keys(doc)).toEqual(expect.arrayContaining(['ok', 'problems', 'warnings']));
  });

  it('exits 1 for something that is not an image archive, 2 when it cannot be read', async () => {
    const text = await runCli('verify', writeTemp(dir, 'notes.txt', 'just text, no tar here'));
    expect(text.code).toBe(1);
    const missing = await runCli('verify', `${dir}/missing.tar`);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`imgpack: no such file or directory (${dir}/missing.tar)\n`);
  });
});

describe('the command line', () => {
  it('usage errors exit 2 with one line', async () => {
    const r = await runCli('inspect');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await runCli('frobnicate')).code).toBe(2);
    expect((await runCli('inspect', archive, '--bogus')).code).toBe(2);
  });

  it('--version prints the package version; help shows examples', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(VERSION).toBe(pkg.version);
    expect((await runCli('--version')).stdout.trim()).toBe(pkg.version);
    const help = await runCli('inspect', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
  });

  it('bin/imgpack.cjs runs the built CLI', () => {
    const bin = new URL('../../bin/imgpack.cjs', import.meta.url).pathname;
    if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) return; // built by `npm ci` (prepare)
    const r = spawnSync(process.execPath, [bin, 'verify', archive]);
    expect(r.status, r.stderr.toString()).toBe(0);
  });
});

describe('writing to standard output', () => {
  it('convert -o - streams a loadable archive', () => {
    const cwd = new URL('.', import.meta.url).pathname;
    const r = spawnSync(process.execPath, fromSource('convert', archive, '-o', '-'), { cwd, maxBuffer: 1 << 26 });
    expect(r.status, r.stderr.toString()).toBe(0);
    const back = writeTemp(dir, 'from-stdout.tar', r.stdout);
    const again = spawnSync(process.execPath, fromSource('verify', back, '--json'), { cwd });
    expect(JSON.parse(again.stdout.toString())).toMatchObject({ ok: true, format: 'hybrid', images: 2 });
    expect(r.stderr.toString()).toMatch(/^Wrote standard output \(hybrid\)/);
  });

  it('--tmpdir says where a compressed input is spooled; one that cannot be used is an exit 2 naming it', async () => {
    const gz = writeTemp(dir, 'two.tar.gz', gzipSync(readFileSync(archive)));
    const spool = join(dir, 'spool-here');
    mkdirSync(spool);
    const ok = await runCli('--tmpdir', spool, 'inspect', gz, '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json().images).toHaveLength(2);
    if (!process.env.IMGPACK_BIN) expect(readdirSync(spool).some((n) => n.startsWith('imgpack-'))).toBe(true); // in-process: still there until exit
    const bad = await runCli('--tmpdir', join(dir, 'no-such-dir'), 'inspect', gz);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`imgpack: no such file or directory (${join(dir, 'no-such-dir')})\n`);
  });
});
