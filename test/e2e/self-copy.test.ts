import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const root = new URL('../../', import.meta.url).pathname;
const dir = tempDir();

/** The single-file build: IMGPACK_BIN's (npm run test:dist), else one made here with esbuild. */
let built: string | undefined;
function bundle(): string {
  if (process.env.IMGPACK_BIN) return process.env.IMGPACK_BIN;
  if (built) return built;
  const out = join(dir, 'build', 'imgpack.cjs');
  const r = spawnSync(process.execPath, [`${root}scripts/bundle.mjs`, '--outfile', out], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return (built = out);
}

const node = (...args: string[]) => {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('imgpack self-copy', () => {
  it('copies the bundle, a README for the far side and the sha256s, each atomically', () => {
    const bin = bundle();
    const usb = join(dir, 'usb');
    mkdirSync(usb);
    const r = node(bin, 'self-copy', usb, '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ directory: usb, kind: 'bundle', version: VERSION });
    expect(doc.files.map((f: { name: string }) => f.name)).toEqual(['imgpack.cjs', 'imgpack-README.txt', 'imgpack.sha256']);
    expect(readdirSync(usb).sort()).toEqual(['imgpack-README.txt', 'imgpack.cjs', 'imgpack.sha256']); // no temporaries left
    expect(readFileSync(join(usb, 'imgpack.cjs')).equals(readFileSync(bin))).toBe(true);
    expect(statSync(join(usb, 'imgpack.cjs')).mode & 0o111).toBe(0o111);
    // sha256sum -c format: "<hex>  <name>"
    expect(readFileSync(join(usb, 'imgpack.sha256'), 'utf8')).toBe(`${sha256(join(usb, 'imgpack.cjs'))}  imgpack.cjs\n${sha256(join(usb, 'imgpack-README.txt'))}  imgpack-README.txt\n`);
    for (const f of doc.files) expect(f.sha256).toBe(sha256(join(usb, f.name)));
    const readme = readFileSync(join(usb, 'imgpack-README.txt'), 'utf8');
    expect(readme).toContain(`imgpack ${VERSION}`);
    expect(readme).toContain('node imgpack.cjs load -i bundle.tar.001');
    expect(readme).toContain('sha256sum -c imgpack.sha256');
    // The copy runs, and copies itself again (over itself) the same way.
    expect(node(join(usb, 'imgpack.cjs'), '--version').stdout.trim()).toBe(VERSION);
    const again = node(join(usb, 'imgpack.cjs'), 'self-copy', usb);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^Wrote .*imgpack\.cjs \(imgpack .*, the bundle, .*\), imgpack-README.txt and imgpack.sha256\n$/);
    expect(sha256(join(usb, 'imgpack.cjs'))).toBe(sha256(bin));
  });

  it('a missing directory or a file is a one-line exit 2', () => {
    const bin = bundle();
    const missing = node(bin, 'self-copy', join(dir, 'nowhere'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`imgpack: no such file or directory (${join(dir, 'nowhere')})\n`);
    const file = writeTemp(dir, 'a-file', 'x');
    const notDir = node(bin, 'self-copy', file);
    expect(notDir.code).toBe(2);
    expect(notDir.stderr).toBe(`imgpack: not a directory (${file})\n`);
  });

  it.skipIf(!!process.env.IMGPACK_BIN)('from the modules with no bundle built, says to build or use the bundle (exit 2)', async () => {
    // In-process, from src/: there is no src/imgpack.cjs.
    const r = await runCli('self-copy', dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^imgpack: this imgpack runs from its modules, not from one file: build the bundle first \(npm run build:bundle\).*\n$/);
  });
});
