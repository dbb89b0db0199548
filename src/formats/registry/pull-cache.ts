/**
 * Where pulls download to: one folder per reference (and platform) under
 * $IMGPACK_CACHE, else $XDG_CACHE_HOME/imgpack, else ~/.cache/imgpack. It outlives a run that
 * fails or is killed, so a rerun fetches only what is missing (whole blobs are kept once their
 * digest is checked; a cut one resumes with a Range request); the run that succeeds removes it.
 * Folders untouched for a week are swept. Kept light: no registry code is loaded here.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fromSystemError } from '../../errors.js';
import type { Platform } from '../../model/oci.js';

const STALE_MS = 7 * 24 * 3600 * 1000;

export function cacheRoot(): string {
  return process.env.IMGPACK_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'imgpack');
}

export function pullFolder(spec: string, platforms: Platform[] = []): string {
  const pulls = join(cacheRoot(), 'pulls');
  // One platform keys as it always did, so that a rerun after an upgrade finds its downloads.
  const wanted = platforms.length === 0 ? 'all' : platforms.map((p) => JSON.stringify(p)).join('\0');
  const key = createHash('sha256').update(`${spec}\0${wanted}`).digest('hex').slice(0, 20);
  const dir = join(pulls, key);
  try {
    mkdirSync(dir, { recursive: true });
    const now = new Date();
    utimesSync(dir, now, now); // in use: not stale
  } catch (e) {
    throw fromSystemError(e, dir);
  }
  sweep(pulls, dir);
  return dir;
}

function sweep(pulls: string, keep: string): void {
  for (const name of readdirSync(pulls)) {
    const dir = join(pulls, name);
    try {
      if (dir !== keep && Date.now() - statSync(dir).mtimeMs > STALE_MS) rmSync(dir, { recursive: true, force: true });
    } catch {
      // another process swept it
    }
  }
}
