/**
 * Issue 13 item 14: a command that only reads the store never creates one. A mistyped --store
 * used to create an empty store that `verify store:` then called OK.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();

describe('reading commands never create a store', () => {
  it('images, verify store:, inspect store:, save and prune say there is no store (exit 2) and create nothing', async () => {
    const missing = join(dir, 'typo-store');
    for (const args of [['images'], ['verify', 'store:'], ['inspect', 'store:'], ['save', 'app:1', '-o', join(dir, 'out.tar')], ['prune']]) {
      const r = await runCli('--store', missing, ...args);
      expect([args[0], r.code, r.stderr]).toEqual([args[0], 2, `imgpack: no store at ${missing}\n`]);
      expect(existsSync(missing), args[0]).toBe(false);
    }
  });

  it('load creates the store it adds to', async () => {
    const store = join(dir, 'new-store');
    const r = await runCli('--store', store, 'load', '-i', new URL('../../samples/tool.oci.tar', import.meta.url).pathname);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(store, 'index.json'))).toBe(true);
    expect((await runCli('--store', store, 'verify', 'store:')).code).toBe(0);
  });
});
