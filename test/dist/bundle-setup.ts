/**
 * The `bundle` project runs the e2e suite against the single-file build: dist/imgpack.cjs copied
 * into a fresh folder with no node_modules anywhere above it, named by IMGPACK_BIN (which
 * test/helpers/cli.ts and spawn.ts honour). `npm run test:dist` builds it first.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export default function setup(): () => void {
  const built = new URL('../../dist/imgpack.cjs', import.meta.url).pathname;
  if (!existsSync(built)) throw new Error(`${built} is missing: npm run build:bundle`);
  const dir = mkdtempSync(join(tmpdir(), 'imgpack-bundle-'));
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) throw new Error(`${d}/node_modules exists: the bundle must run without one`);
  }
  copyFileSync(built, join(dir, 'imgpack.cjs'));
  process.env.IMGPACK_BIN = join(dir, 'imgpack.cjs');
  return () => rmSync(dir, { recursive: true, force: true });
}
