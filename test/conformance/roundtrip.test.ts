/**
 * Round trip of every valid real archive of ../shared through every output format: convert, then
 * inspect the output (same image IDs, diffIDs and names) and verify it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { loadItems, requireSharedInCi, sharedAvailable } from '../helpers/shared.js';

requireSharedInCi();
const items = loadItems().filter((x) => x.item.valid === true);
const out = mkdtempSync(join(tmpdir(), 'imgpack-roundtrip-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Img { id: string; repoTags: string[]; layers: { diffId: string }[] }
const FORMATS = ['hybrid', 'docker-archive', 'oci-archive', 'oci-layout'] as const;

describe.skipIf(!sharedAvailable())('round trip of every valid archive in ../shared', () => {
  let n = 0;
  for (const { label, file } of items) {
    it(`${label}`, async () => {
      const input = (await runCli('inspect', file, '--json')).json();
      const inputById = new Map<string, Img>(input.images.map((i: Img) => [i.id, i]));
      for (const format of FORMATS) {
        const target = join(out, `${n++}${format === 'oci-layout' ? '/' : '.tar'}`);
        const c = await runCli('convert', file, '--format', format, '-o', target);
        if (format === 'docker-archive' && input.images.length === 0) {
          expect(c.stderr).toMatch(/only artifacts/); // a docker-archive holds images, nothing else
          continue;
        }
        expect(c.code, `${format}: ${c.stderr}`).toBe(0);
        const v = await runCli('verify', target, '--json');
        expect(v.json().problems, format).toEqual([]);
        const output = (await runCli('inspect', target, '--json')).json();
        expect(output.format).toBe(format);
        for (const img of output.images as Img[]) {
          const orig = inputById.get(img.id);
          expect(orig, `${format}: ${img.id} comes from the input`).toBeDefined();
          expect(img.layers.map((l) => l.diffId), `${format} diffIds`).toEqual(orig!.layers.map((l) => l.diffId));
        }
        const names = (imgs: Img[]) => [...new Set(imgs.flatMap((i) => i.repoTags))].sort();
        expect(names(output.images), `${format} names`).toEqual(names(input.images));
        if (format !== 'docker-archive') {
          // OCI outputs keep every image under its own names, and every artifact.
          expect(output.images.map((i: Img) => [i.id, [...i.repoTags].sort()]).sort(), format)
            .toEqual(input.images.map((i: Img) => [i.id, [...i.repoTags].sort()]).sort());
          expect(output.artifacts.length, `${format} artifacts`).toBe(input.artifacts.length);
        }
        rmSync(target, { recursive: true, force: true });
      }
    });
  }
});
