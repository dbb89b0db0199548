/**
 * Conformance over every real archive in ../shared (corpus.json and fixtures.json): what imgpack
 * reads must equal the independent expectations; broken archives must be caught and named.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { loadItems, requireSharedInCi, sharedAvailable } from '../helpers/shared.js';

requireSharedInCi();
const items = loadItems();

/**
 * Where imgpack deliberately reports more than the expectation, and why. The issue defines images
 * as "one entry per image ID whose config is present, whichever way it is reached"; this hybrid's
 * nested index holds two more platforms, complete, that its manifest.json does not list.
 */
const platformString = (p: { os: string; architecture: string; variant?: string } | null) => (p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'unknown');
const noStackTrace = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at /);

describe.skipIf(!sharedAvailable())('conformance over ../shared', () => {
  it('has the items it expects', () => {
    expect(items.length).toBeGreaterThanOrEqual(100);
  });

  for (const { label, file, item } of items) {
    if (item.valid === true) {
      it(`${label}: inspect equals the expectation and verify passes`, async () => {
        const r = await runCli('inspect', file, '--json');
        noStackTrace(r.stderr);
        expect(r.code, r.stderr).toBe(0);
        const doc = r.json();
        const expected = item.expect ?? [];
        const byId = new Map(doc.images.map((i: { id: string }) => [i.id, i]));
        for (const e of expected) {
          const got = byId.get(e.id) as { layers: { diffId: string }[]; repoTags: string[]; platform: never } | undefined;
          expect(got, `image ${e.id} of ${label}`).toBeDefined();
          expect(got!.layers.map((l) => l.diffId), `diffIds of ${e.id}`).toEqual(e.diffIds);
          expect([...got!.repoTags].sort(), `repoTags of ${e.id}`).toEqual([...e.repoTags].sort());
          expect(platformString(got!.platform)).toBe(e.platform);
        }
        expect(doc.images.length).toBe(expected.length);
        const v = await runCli('verify', file, '--json');
        expect(v.json().problems).toEqual([]);
        expect(v.code).toBe(0);
      });
    } else if (item.valid === false) {
      it(`${label}: verify exits 1 naming what is wrong; inspect fails cleanly or reports`, async () => {
        const v = await runCli('verify', file, '--json');
        noStackTrace(v.stderr);
        expect(v.code).toBe(1);
        const doc = v.json();
        expect(doc.ok).toBe(false);
        expect(doc.problems.length).toBeGreaterThan(0);
        for (const p of doc.problems) {
          expect(p.code).toMatch(/^[a-z0-9-]+$/);
          expect(p.message.length).toBeGreaterThan(5);
          expect(p.subject.length).toBeGreaterThan(0);
        }
        const i = await runCli('inspect', file, '--json');
        noStackTrace(i.stderr);
        expect([0, 1]).toContain(i.code);
        if (i.code === 1) expect(i.stderr).toMatch(/^imgpack: .+\n$/);
      });
    } else {
      it(`${label}: a pre-1.10 docker archive is read or refused as too old`, async () => {
        const r = await runCli('inspect', file, '--json');
        noStackTrace(r.stderr);
        if (r.code !== 0) {
          expect(r.code).toBe(1);
          expect(r.stderr).toMatch(/^imgpack: .*too old.*\n$/);
        }
      });
    }
  }
});
