import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const root = new URL('../../', import.meta.url).pathname;
const out = tempDir(); // at the top level: tempDir's afterAll does not run when registered inside a test

describe('samples/', () => {
  it.skipIf(!existsSync(`${root}dist/testing/build.js`))('are remade byte for byte by samples/make-samples.mjs', () => {
    const r = spawnSync(process.execPath, [`${root}samples/make-samples.mjs`, out]);
    expect(r.status, r.stderr.toString()).toBe(0);
    const made = readdirSync(out).sort();
    expect(made.length).toBeGreaterThan(0);
    for (const f of made) expect(readFileSync(`${out}/${f}`).equals(readFileSync(`${root}samples/${f}`)), f).toBe(true);
  });
});
