/**
 * The single executable (npm run build:sea, dist/imgpack), run with an empty environment (no
 * node on the PATH): inspect and verify on real tools' archives from ../shared, xz (WebAssembly)
 * and volumes (hashed by worker threads). CI builds it first; elsewhere these tests are skipped
 * when it was not built.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireSharedInCi, SHARED, sharedAvailable } from '../helpers/shared.js';
import { tempDir } from '../helpers/tmp.js';

const root = new URL('../../', import.meta.url).pathname;
const built = `${root}dist/imgpack`;
if (!existsSync(built) && process.env.CI === 'true') throw new Error(`${built} is missing: .ci/run builds it (npm run build:sea)`);
requireSharedInCi();
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const dir = tempDir();
const exe = join(dir, 'imgpack');
if (existsSync(built)) copyFileSync(built, exe);

function run(...args: string[]) {
  const r = spawnSync(exe, args, { env: {}, cwd: dir, encoding: 'utf8' }); // no PATH: no node
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!existsSync(built))('the single executable', () => {
  it('runs with no Node and no environment', () => {
    expect(run('--version').stdout.trim()).toBe(pkg.version);
    expect(run('inspect', `${root}samples/web.docker.tar`).stdout).toContain('docker-archive, 2 images');
    expect(run('verify', `${root}test/data/tiny.tar.xz`).code).toBe(0);
    const bad = run('verify', join(dir, 'missing.tar'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`imgpack: no such file or directory (${join(dir, 'missing.tar')})\n`);
  });

  it.skipIf(!sharedAvailable())('inspects and verifies real tools\' archives from ../shared', () => {
    for (const f of ['docker-modern/multi.tar', 'podman/app.oci.tar', 'docker-legacy/app.tar.xz']) {
      const path = join(SHARED, 'fixtures/realtools', f);
      const inspect = run('inspect', path, '--json');
      expect(inspect.code, `${f}: ${inspect.stderr}`).toBe(0);
      expect(JSON.parse(inspect.stdout).images.length, f).toBeGreaterThan(0);
      const verify = run('verify', path, '--json');
      expect(verify.code, `${f}: ${verify.stderr}`).toBe(0);
      expect(JSON.parse(verify.stdout).ok, f).toBe(true);
    }
  });

  it('writes volumes (worker threads) and copies itself', () => {
    const out = join(dir, 'vol', 'set.tar');
    mkdirSync(join(dir, 'vol'));
    const w = run('convert', `${root}samples/web.docker.tar`, '-o', out, '--volume-size', '1M', '--json');
    expect(w.code, w.stderr).toBe(0);
    expect(JSON.parse(readFileSync(`${out}.imgpack.json`, 'utf8')).imgpackVersion).toBe(pkg.version);
    expect(run('verify', `${out}.001`).code).toBe(0);
    const usb = join(dir, 'usb');
    mkdirSync(usb);
    const copy = run('self-copy', usb, '--json');
    expect(copy.code, copy.stderr).toBe(0);
    expect(JSON.parse(copy.stdout)).toMatchObject({ kind: 'executable' });
    expect(readdirSync(usb).sort()).toEqual(['imgpack', 'imgpack-README.txt', 'imgpack.sha256']);
    expect(readFileSync(join(usb, 'imgpack-README.txt'), 'utf8')).toContain('./imgpack load -i bundle.tar.001');
  });
});
