/**
 * The store's lock: a file created exclusively (O_EXCL), holding the owner's pid, host and start
 * time. Stale-lock rule: a lock whose pid is no longer alive on this host is left over by a killed
 * process and is removed; a lock from another host is never broken automatically (the store may
 * be on a shared disk) until it is older than IMGPACK_LOCK_STALE_SECONDS (default 1 hour).
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { usage } from '../../errors.js';
import { atExit, sleep } from '../../io/cancel.js';

const RETRY_MS = 25;

export async function withLock<T>(path: string, work: () => Promise<T>, timeoutMs = Number(process.env.IMGPACK_LOCK_TIMEOUT_MS) || 60_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    if (tryAcquire(path)) break;
    if (isStale(path)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() - started > timeoutMs) throw usage('store-locked', `the store is locked by another imgpack (${describeHolder(path)})`, path);
    await sleep(RETRY_MS + Math.random() * RETRY_MS); // a signal stops the wait at once
  }
  // Held until `work` settles; a process that exits first (a signal) releases it on the way out.
  const release = atExit(() => rmSync(path, { force: true }));
  try {
    return await work();
  } finally {
    release();
    rmSync(path, { force: true });
  }
}

function tryAcquire(path: string): boolean {
  try {
    const fd = openSync(path, 'wx');
    writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
    closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

interface Holder { pid: number; host: string; since: string }

function readHolder(path: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

export function isStale(path: string): boolean {
  const h = readHolder(path);
  if (!h) {
    // Empty or torn lock file: its writer died between open and write. Give it a moment.
    try {
      const { mtimeMs } = statSync(path);
      return Date.now() - mtimeMs > 2_000;
    } catch {
      return false;
    }
  }
  const maxAge = (Number(process.env.IMGPACK_LOCK_STALE_SECONDS) || 3600) * 1000;
  if (h.host !== hostname()) return Date.now() - Date.parse(h.since) > maxAge;
  return !isAlive(h.pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function pidAlive(pid: number): boolean {
  return isAlive(pid);
}

function describeHolder(path: string): string {
  const h = readHolder(path);
  return h ? `pid ${h.pid} on ${h.host} since ${h.since}` : 'unknown holder';
}

