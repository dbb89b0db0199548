import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module script without types (scripts/ is not compiled)
import { checkLayers } from '../../scripts/import-graph.mjs';

const src = resolve(new URL('../../src', import.meta.url).pathname);

describe('the architecture stays one-way (scripts/import-graph.mjs)', () => {
  it('no layer imports a higher one (model < io < formats < ops < serve < cli), and no file cycles', () => {
    const { upward, cycles } = checkLayers(src) as { upward: { from: string; to: string }[]; cycles: string[][] };
    expect(upward.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
    expect(cycles.map((c) => c.join(' -> '))).toEqual([]);
  });

  it('the check sees type-only imports, dynamic imports and re-exports', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(resolve(tmpdir(), 'imgpack-layers-'));
    try {
      for (const d of ['model', 'io', 'ops']) mkdirSync(resolve(dir, d));
      writeFileSync(resolve(dir, 'model/a.ts'), "import type { X } from '../io/b.js';\n");
      writeFileSync(resolve(dir, 'io/b.ts'), "export { y } from '../ops/c.js';\nexport type X = 1;\n");
      writeFileSync(resolve(dir, 'ops/c.ts'), "export const y = 1;\nconst z = () => import('../ops/d.js');\n");
      writeFileSync(resolve(dir, 'ops/d.ts'), "import { y } from './c.js';\n");
      const { upward, cycles } = checkLayers(dir) as { upward: { from: string; to: string }[]; cycles: string[][] };
      expect(upward.map((e) => `${e.from} -> ${e.to}`).sort()).toEqual(['io/b.ts -> ops/c.ts', 'model/a.ts -> io/b.ts']);
      expect(cycles.map((c) => c.join(' -> '))).toEqual(['ops/c.ts -> ops/d.ts -> ops/c.ts']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
