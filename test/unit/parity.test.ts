import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkShardCount, encodeParity, rebuildShards, type Shard } from '../../src/io/parity.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();

/** Every subset of {0..n-1} with exactly r members. */
function* subsets(n: number, r: number, start = 0, acc: number[] = []): Generator<number[]> {
  if (acc.length === r) {
    yield acc;
    return;
  }
  for (let i = start; i < n; i++) yield* subsets(n, r, i + 1, [...acc, i]);
}

describe('Reed-Solomon over GF(256)', () => {
  it('rebuilds any m erased shards of k data (uneven sizes, across stripes) and m parity, byte for byte', async () => {
    const k = 4;
    const m = 3;
    const sizes = [200_000, 200_000, 200_000, 70_001]; // the last volume is short; stripes are 64 KiB
    const data = sizes.map((n, j) => {
      const path = join(dir, `d${j}`);
      writeFileSync(path, randomBytes(n));
      return { path, size: n };
    });
    const parity = Array.from({ length: m }, (_, i) => join(dir, `p${i}`));
    const out = await encodeParity(data, parity);
    expect(out.map((o) => o.size)).toEqual([200_000, 200_000, 200_000]);
    const all = [...data.map((d) => d.path), ...parity];
    const expected = all.map((f) => readFileSync(f));
    let n = 0;
    for (let r = 1; r <= m; r++) {
      for (const erased of subsets(k + m, r)) {
        const shards: Shard[] = all.map((path, i) => ({ path, size: i < k ? sizes[i] : 200_000, good: !erased.includes(i), output: join(dir, `out-${n}-${i}`) }));
        const hashes = await rebuildShards(shards, k, 200_000);
        expect([...hashes.keys()].sort()).toEqual(erased);
        for (const i of erased) expect(readFileSync(shards[i].output!).equals(expected[i]), `erased ${erased} shard ${i}`).toBe(true);
        n++;
      }
    }
    expect(n).toBe(7 + 21 + 35);
    const tooMany: Shard[] = all.map((path, i) => ({ path, size: 1, good: i > m, output: join(dir, `never-${i}`) }));
    await expect(rebuildShards(tooMany, k, 200_000)).rejects.toThrow(/more than the parity can rebuild/);
  });

  it('covers at most 256 volumes', () => {
    expect(checkShardCount(254, 2)).toBeUndefined();
    expect(checkShardCount(255, 2)).toMatch(/at most 256 volumes/);
  });
});
