/**
 * The packed tarball installs with no registry at all (bundleDependencies: every runtime
 * dependency is inside it): npm pack, then npm install -g into a temporary prefix with the
 * registry pointing at a closed port, --offline and an empty cache. Slow: the `dist` project, run
 * by `npm run test:dist` (which builds dist/ and the bundle first) and .ci/run. npm pack runs with
 * --ignore-scripts: prepack and prepare would rebuild dist/ under the tests running beside it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const dir = tempDir();

function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? dir, env: { ...process.env, ...opts.env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm install -g of the packed tarball, offline', () => {
  it('installs with the registry unreachable, and the installed imgpack runs', () => {
    const packed = run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], { cwd: root });
    expect(packed.code, packed.stderr).toBe(0);
    const [{ filename, bundled }] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
    expect(filename).toBe(`imgpack-${pkg.version}.tgz`);
    expect(bundled).toEqual(expect.arrayContaining(Object.keys(pkg.dependencies)));

    const prefix = join(dir, 'prefix');
    const cache = join(dir, 'empty-cache');
    mkdirSync(cache);
    const offline = { npm_config_registry: 'http://127.0.0.1:9', npm_config_cache: cache };
    const install = run('npm', ['install', '-g', '--offline', '--prefix', prefix, '--no-audit', '--no-fund', `./${filename}`], { env: offline });
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr, 'npm install -g prints no warning (a prepare script would be one)').not.toMatch(/warn/i);

    const imgpack = join(prefix, 'bin', 'imgpack');
    const elsewhere = { cwd: dir, env: offline };
    expect(run(imgpack, ['--version'], elsewhere).stdout.trim()).toBe(pkg.version);
    const inspect = run(imgpack, ['inspect', `${root}samples/web.docker.tar`, '--json'], elsewhere);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ format: 'docker-archive', images: [{}, {}] });
    expect(run(imgpack, ['verify', `${root}test/data/tiny.tar.xz`], elsewhere).code).toBe(0);

    // The package carries the bundle too, so an npm install can self-copy.
    const usb = join(dir, 'usb');
    mkdirSync(usb);
    const copy = run(imgpack, ['self-copy', usb], elsewhere);
    expect(copy.code, copy.stderr).toBe(0);
    expect(existsSync(join(usb, 'imgpack.cjs'))).toBe(true);
    expect(run(process.execPath, [join(usb, 'imgpack.cjs'), 'inspect', `${root}samples/web.docker.tar`]).stdout).toContain('docker-archive, 2 images');
  });
});
