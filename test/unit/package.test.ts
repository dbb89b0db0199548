/**
 * What a newcomer's `npm ci` and `npm install -g imgpack-*.tgz` print: no warning about install
 * scripts. npm 11 skips (and lists) every dependency's install script that package.json's
 * allowScripts does not cover, and counts a package's own `prepare` as one when it is installed
 * from a tarball; so imgpack has no install-time script of its own, and every dependency that has
 * one is decided in allowScripts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const lock = JSON.parse(readFileSync(`${root}package-lock.json`, 'utf8'));

describe('package.json', () => {
  it('has no script that npm runs when the packed tarball is installed', () => {
    for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts[s], s).toBeUndefined();
  });

  it('decides in allowScripts on every dependency with an install script', () => {
    const withScripts = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
      .filter(([path, p]) => path && p.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts.length).toBeGreaterThan(0); // esbuild: its postinstall only checks the binary its optional dependency brings
    for (const name of withScripts) expect(Object.keys(pkg.allowScripts ?? {}).some((k) => k === name || k.startsWith(`${name}@`)), name).toBe(true);
  });
});
