/**
 * dist/imgpack.cjs on its own: nothing but Node's modules is required, and the decoders (xz's
 * WebAssembly inlined, zstd, bzip2) work from a folder with no node_modules. (The `bundle`
 * project runs the whole e2e suite against it; `npm run test:dist` builds it first.)
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const root = new URL('../../', import.meta.url).pathname;
const dir = tempDir();
const bin = join(dir, 'imgpack.cjs');
copyFileSync(`${root}dist/imgpack.cjs`, bin);

describe('the single-file bundle', () => {
  it("requires only Node's own modules", () => {
    const required = new Set([...readFileSync(bin, 'utf8').matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]));
    expect([...required].filter((m) => !builtinModules.includes(m.replace(/^node:/, '')))).toEqual([]);
  });

  it('decodes xz (WebAssembly), zstd and bzip2 with no node_modules beside it', () => {
    for (const ext of ['xz', 'zst', 'bz2']) {
      const r = spawnSync(process.execPath, [bin, 'verify', `${root}test/data/tiny.tar.${ext}`, '--json'], { cwd: dir, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, images: 1 });
    }
  });
});
