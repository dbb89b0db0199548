/**
 * globalSetup of `npm test`: the suite leaves nothing in the temporary folder. Every test and every
 * process it starts gets a private $TMPDIR (inherited by the workers and their children); at the
 * end, anything left in it fails the run, named, and is removed so that /tmp stays clean even then.
 * tsx (which runs the CLI from its sources in some tests) would keep a compile cache in
 * $TMPDIR/tsx-<uid>: TSX_DISABLE_CACHE turns it off.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'imgpack-npm-test-'));
  const tmp = join(root, 'tmp');
  mkdirSync(tmp);
  const before = { TMPDIR: process.env.TMPDIR, TSX_DISABLE_CACHE: process.env.TSX_DISABLE_CACHE };
  process.env.TMPDIR = tmp;
  process.env.TSX_DISABLE_CACHE = '1';
  return () => {
    const left = readdirSync(tmp);
    rmSync(root, { recursive: true, force: true });
    for (const [k, v] of Object.entries(before)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    if (!left.length) return;
    // vitest reports an error thrown here but still exits 0: set the exit code ourselves.
    console.error(`npm test left ${left.length} file${left.length === 1 ? '' : 's'} in the temporary folder: ${left.join(', ')}`);
    process.exitCode = 1;
  };
}
