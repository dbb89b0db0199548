/**
 * A full disk, for real: a 1 MiB tmpfs as the destination. The free-space check refuses early;
 * without it, the write fails with ENOSPC. Either way exit 2, a one-line error naming the path,
 * and nothing left on the file system. Needs root (mount); CI runs as root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { SHARED, sharedAvailable } from '../helpers/shared.js';

const isRoot = process.getuid?.() === 0;
const canMount = isRoot && spawnSync('sh', ['-c', 'command -v mount'], { stdio: 'ignore' }).status === 0;
const mnt = join(tmpdir(), `imgpack-full-${process.pid}`);
const input = resolve(SHARED, 'fixtures/realtools/docker-legacy/app.tar'); // about 2 MB

describe.skipIf(!canMount || !sharedAvailable())('disk full', () => {
  beforeAll(() => {
    mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  it('is refused before writing when the size is known', async () => {
    const r = await runCli('convert', input, '-o', join(mnt, 'out.tar'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^imgpack: not enough free space: \\d+ bytes needed, \\d+ available \\(${mnt}\\)\\n$`));
    expect(readdirSync(mnt)).toEqual([]);
  });

  it('fails cleanly when the disk fills up mid-write', async () => {
    const r = await runCli('convert', input, '-o', join(mnt, 'out.tar'), '--no-space-check');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^imgpack: no space left on device \(.*out\.tar\)\n$/);
    expect(readdirSync(mnt)).toEqual([]);
  });

  it('an in-place rewrite on a full disk leaves the old archive intact', async () => {
    const dir = join(mnt, 'd');
    mkdirSync(dir);
    // Fill most of the space with the archive itself, so the rewrite cannot fit beside it.
    const small = resolve(SHARED, 'corpus/ggcr/test_bundle.tar');
    execFileSync('cp', [small, join(dir, 'a.tar')]);
    spawnSync('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=1k', 'count=2000'], { stdio: 'ignore' }); // stops at full
    const before = execFileSync('sha256sum', [join(dir, 'a.tar')]).toString();
    const r = await runCli('tag', join(dir, 'a.tar'), 'test_image_1', 'new:1', '--no-space-check');
    expect(r.code).toBe(2);
    expect(execFileSync('sha256sum', [join(dir, 'a.tar')]).toString()).toBe(before);
    expect(readdirSync(dir)).toEqual(['a.tar']);
    rmSync(join(mnt, 'filler'));
  });
});
