/**
 * Temporary files: spooled inputs in $TMPDIR (or --tmpdir) and outputs' temporary names beside
 * their targets. Every one is registered (io/cancel.ts) so that an exit or a signal removes it;
 * nothing partial is left behind under any name.
 */
import { fromSystemError } from '../errors.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { atExit } from './cancel.js';

const live = new Map<string, () => void>();

/** Registers a path for removal at exit (or an interrupt); returns a function that removes it now. */
export function registerTemp(path: string): () => void {
  live.get(path)?.();
  live.set(path, atExit(() => rmSync(path, { recursive: true, force: true })));
  return () => {
    releaseTemp(path);
    rmSync(path, { recursive: true, force: true });
  };
}

/** Forgets a temporary path that became a real output (after its rename). */
export function releaseTemp(path: string): void {
  live.get(path)?.();
  live.delete(path);
}

let dir: string | undefined;
let chosenBase: string | undefined;

/** A private directory for this process's spooled files: under --tmpdir, else $IMGPACK_TMPDIR, else $TMPDIR. */
export function spoolDir(): string {
  if (!dir) {
    const base = chosenBase || process.env.IMGPACK_TMPDIR || tmpdir();
    try {
      dir = mkdtempSync(join(base, 'imgpack-'));
    } catch (e) {
      throw fromSystemError(e, base);
    }
    registerTemp(dir);
  }
  return dir;
}

/**
 * Removes this process's spool directory now; the next spool makes a new one. For a process that
 * runs many commands and outlives them (a test worker), where the removal at exit may not come.
 */
export function removeSpoolDir(): void {
  if (!dir) return;
  releaseTemp(dir);
  rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

/** --tmpdir DIR (CLI.md): where spooled temporaries go; created on first use, under DIR. */
export function setSpoolBase(base: string | undefined): void {
  if (base === chosenBase) return;
  chosenBase = base;
  dir = undefined; // the next spool goes under the new base
}

/** A temporary name beside `target`, e.g. `.out.tar.imgpack-1a2b3c.tmp`. */
export function siblingTempName(target: string): string {
  const slash = target.lastIndexOf('/');
  const folder = slash >= 0 ? target.slice(0, slash + 1) : '';
  const base = slash >= 0 ? target.slice(slash + 1) : target;
  return `${folder}.${base}.imgpack-${randomBytes(4).toString('hex')}.tmp`;
}
