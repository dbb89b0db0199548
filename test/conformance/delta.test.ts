/**
 * Delta bundles on real archives of ../shared: docker 20.10, docker 26 (both stores) and podman
 * saved base:1, app:1 and app2:1, which share the base layer. The other side has base:1; a delta
 * of the apps leaves out exactly the base layer's bytes; loading it into that side's store, or
 * applying it to base:1, gives exactly the original images (image IDs from fixtures.json, the same
 * manifest digests, the same bytes as a full convert).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { requireSharedInCi, SHARED, sharedAvailable, type SharedItem } from '../helpers/shared.js';

requireSharedInCi();
const out = mkdtempSync(join(tmpdir(), 'imgpack-delta-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
const fixtures: SharedItem[] = sharedAvailable() ? JSON.parse(readFileSync(resolve(SHARED, 'fixtures/realtools/fixtures.json'), 'utf8')) : [];
const MULTI = ['docker-legacy/multi.tar', 'docker-modern/multi.tar', 'docker-containerd/multi.tar', 'podman/multi.docker.tar'];

describe.skipIf(!sharedAvailable())('delta bundles of real archives', () => {
  let n = 0;
  for (const path of MULTI) {
    it(path, async () => {
      const file = resolve(SHARED, 'fixtures/realtools', path);
      const expected = fixtures.find((f) => f.path === path)!.expect!;
      const base = expected.find((e) => e.diffIds.length === 1)!;
      const apps = expected.filter((e) => e !== base);
      const dir = join(out, String(n++));
      mkdirSync(dir);
      const p = (x: string) => join(dir, x);
      const cli = (...args: string[]) => runCli('--store', p('store'), ...args);

      // The other side holds base:1 (loaded from its own archive) and says so.
      expect((await runCli('convert', file, '--image', base.id, '-o', p('base.tar'))).code).toBe(0);
      expect((await cli('load', '-i', p('base.tar'))).code).toBe(0);
      expect((await cli('inventory', '-o', p('have.json'))).code).toBe(0);

      for (const format of ['hybrid', 'docker-archive', 'oci-archive']) {
        const select = apps.flatMap((a) => ['--image', a.id]);
        const full = p(`full.${format}.tar`);
        const delta = p(`delta.${format}.tar`);
        expect((await runCli('convert', file, ...select, '--format', format, '-o', full)).code).toBe(0);
        const d = await runCli('convert', file, ...select, '--format', format, '--exclude-from', p('have.json'), '-o', delta, '--json');
        expect(d.code, d.stderr).toBe(0);
        // Smaller by the shared bytes: the base layer, however the tool stored it.
        const baseLayer = (await runCli('inspect', p('base.tar'), '--json')).json().images[0].layers[0];
        expect(d.json().bytesOmitted, format).toBe(baseLayer.size);
        expect(statSync(full).size - statSync(delta).size).toBeGreaterThan(baseLayer.size - 4096); // less the marker file
        expect((await runCli('verify', delta, '--base', p('base.tar'))).code).toBe(0);

        const applied = p(`applied.${format}.tar`);
        expect((await runCli('apply', delta, '--base', p('base.tar'), '-o', applied)).code).toBe(0);
        expect(readFileSync(applied).equals(readFileSync(full)), `${path} ${format}`).toBe(true);
      }

      const load = await cli('load', '-i', p('delta.hybrid.tar'));
      expect(load.code, load.stderr).toBe(0);
      const inStore = (await cli('inspect', 'store:', '--json')).json().images as { id: string; manifestDigests: string[]; layers: { diffId: string }[] }[];
      for (const e of expected) {
        const img = inStore.find((i) => i.id === e.id);
        expect(img, e.id).toBeDefined();
        expect(img!.layers.map((l) => l.diffId)).toEqual(e.diffIds);
      }
      const fullImages = (await runCli('inspect', p('full.hybrid.tar'), '--json')).json().images as { id: string; manifestDigests: string[] }[];
      for (const f of fullImages) expect(inStore.find((i) => i.id === f.id)!.manifestDigests).toEqual(f.manifestDigests);
      expect((await cli('verify', 'store:')).code).toBe(0);
    });
  }
});
