/**
 * export matches `umoci unpack` (a real tool) on every image of the realtools umoci layout,
 * which has whiteouts, a repacked layer and layers without end-of-archive blocks.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { realToolsAvailable } from '../helpers/realtools.js';
import { SHARED, sharedAvailable } from '../helpers/shared.js';

const available = sharedAvailable() && realToolsAvailable();
const work = join(tmpdir(), `imgpack-export-${process.pid}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!available)('export equals umoci unpack', () => {
  for (const tag of ['base', 'two', 'three', 'four', 'five', 'six']) {
    it(`umoci/layout:${tag}`, async () => {
      const layout = join(work, 'layout');
      mkdirSync(work, { recursive: true });
      cpSync(resolve(SHARED, 'fixtures/realtools/umoci/layout'), layout, { recursive: true, force: false, errorOnExist: false });
      const bundle = join(work, `umoci-${tag}`);
      const u = spawnSync('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, bundle], { encoding: 'utf8' });
      expect(u.status, u.stderr).toBe(0);
      const tar = join(work, `${tag}.tar`);
      const r = await runCli('export', layout, '--image', tag, '-o', tar);
      expect(r.code, r.stderr).toBe(0);
      const ours = join(work, `ours-${tag}`);
      mkdirSync(ours);
      expect(spawnSync('tar', ['-xf', tar, '-C', ours]).status).toBe(0);
      const d = spawnSync('diff', ['-r', '--no-dereference', join(bundle, 'rootfs'), ours], { encoding: 'utf8' });
      expect(d.stdout + d.stderr).toBe('');
    });
  }
});
