/**
 * Small files written whole (index.json, transfer manifests, keys, docker's config.json) and
 * fsync by path: the two steps every crash-safe write here is made of.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { fromSystemError } from '../errors.js';
import { registerTemp, releaseTemp, siblingTempName } from './temp.js';

/**
 * A temporary name beside `path`, created with `mode` (a private key is never readable by
 * others, not even for a moment), written, fsynced, renamed: readers see the old file or the
 * new one, never a torn one, and a crash leaves at most a hidden temporary.
 */
export function writeFileAtomically(path: string, data: string | Buffer, mode = 0o666): void {
  const temp = siblingTempName(path);
  const remove = registerTemp(temp);
  try {
    const fd = openSync(temp, 'wx', mode);
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    releaseTemp(temp);
  } catch (e) {
    remove();
    throw fromSystemError(e, path);
  }
}

/** fsync of a file or a directory (after a rename, so that the new name survives a power loss). */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
