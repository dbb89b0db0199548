/**
 * The local image store: an OCI image layout directory that imgpack adds images to and takes them
 * from. Crash-safe and safe under concurrency:
 * - blobs are written to a temporary name in blobs/<alg>/, fsynced, then renamed (same digest =
 *   same bytes, so two writers of one blob cannot conflict);
 * - index.json is only replaced whole (temporary + fsync + rename) while holding the lock;
 * - a load records the blobs it writes in .pending/<pid>-<n> before writing them, so that a
 *   concurrent prune never deletes a blob that a load is about to reference.
 * A process killed at any point leaves at worst unreferenced blobs and temporaries: prune removes
 * them, and the store verifies.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fromSystemError, invalid, usage } from '../../errors.js';
import { blobPath } from '../../model/digest.js';
import { MediaType } from '../../model/media-types.js';
import type { Descriptor, Index } from '../../model/oci.js';
import { withLock, pidAlive } from './lock.js';
import { fsyncPath, writeFileAtomically } from '../../io/atomic.js';
import { atExit } from '../../io/cancel.js';

export const STORE_SPEC = 'store:';

/** --store, else $IMGPACK_STORE, else $XDG_DATA_HOME/imgpack/store, else ~/.local/share/imgpack/store. */
export function storePath(flag?: string): string {
  if (flag) return flag;
  if (process.env.IMGPACK_STORE) return process.env.IMGPACK_STORE;
  const data = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(data, 'imgpack', 'store');
}

let configuredStore: string | undefined;
/** The CLI's --store, set once per process. */
export function setStorePath(path: string | undefined): void {
  configuredStore = path;
}
export function currentStorePath(): string {
  return storePath(configuredStore);
}

export class Store {
  private constructor(readonly root: string) {}

  /**
   * Opens the store, creating it on first use: for the commands that add images (load, pull,
   * `-o store:`, serve's pushes). Every other command opens it with `openExisting`.
   */
  static open(root = currentStorePath()): Store {
    try {
      mkdirSync(join(root, 'blobs', 'sha256'), { recursive: true });
      mkdirSync(join(root, '.pending'), { recursive: true });
      if (!existsSync(join(root, 'oci-layout'))) writeFileAtomically(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      if (!existsSync(join(root, 'index.json'))) writeFileAtomically(join(root, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }));
    } catch (e) {
      throw fromSystemError(e, root);
    }
    const store = new Store(root);
    store.recoverPruneLeftovers();
    return store;
  }

  /**
   * A prune moves candidate blobs aside before deleting them; killed in between, it leaves them
   * under `<hex>.prune-<pid>`. They go back, and a later prune decides again.
   */
  private recoverPruneLeftovers(): void {
    for (const alg of safeReaddir(join(this.root, 'blobs'))) {
      for (const name of safeReaddir(join(this.root, 'blobs', alg))) {
        const m = /^([0-9a-f]+)\.prune-(\d+)$/.exec(name);
        if (!m || pidAlive(Number(m[2]))) continue;
        const dir = join(this.root, 'blobs', alg);
        try {
          if (existsSync(join(dir, m[1]))) rmSync(join(dir, name), { force: true });
          else renameSync(join(dir, name), join(dir, m[1]));
        } catch {
          // another process recovered it first
        }
      }
    }
  }

  /**
   * Opens a store that exists; a command that only reads or renames never creates one (CLI.md):
   * a mistyped --store is an error (exit 2), not an empty store that verifies.
   */
  static openExisting(root = currentStorePath()): Store {
    if (!existsSync(join(root, 'index.json'))) throw usage('no-store', `no store at ${root}`);
    const store = new Store(root);
    store.recoverPruneLeftovers();
    return store;
  }

  get lockPath(): string {
    return join(this.root, '.lock');
  }

  /** The store at the configured path if it exists; undefined rather than creating one. */
  static existing(root = currentStorePath()): Store | undefined {
    return existsSync(join(root, 'index.json')) ? new Store(root) : undefined;
  }

  /** The path of a blob the store has, else undefined. */
  blobFile(digest: string): string | undefined {
    const path = join(this.root, blobPath(digest));
    return existsSync(path) ? path : undefined;
  }

  hasBlob(digest: string): boolean {
    return existsSync(join(this.root, blobPath(digest)));
  }

  /** A temporary name for a blob being written; `commitBlob` moves it into place. */
  tempBlobPath(digest: string): string {
    const alg = digest.split(':')[0];
    mkdirSync(join(this.root, 'blobs', alg), { recursive: true });
    return join(this.root, 'blobs', alg, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  commitBlob(temp: string, digest: string): void {
    renameSync(temp, join(this.root, blobPath(digest)));
  }

  /** fsync of blobs/<alg>/: renamed blobs survive a power loss before index.json refers to them. */
  syncBlobDirs(): void {
    const blobs = join(this.root, 'blobs');
    for (const alg of existsSync(blobs) ? readdirSync(blobs) : []) fsyncPath(join(blobs, alg));
  }

  readIndex(): Index {
    const raw = readFileSync(join(this.root, 'index.json'), 'utf8');
    try {
      const json = JSON.parse(raw) as Index;
      if (!Array.isArray(json.manifests)) json.manifests = [];
      return json;
    } catch {
      throw invalid('bad-store', 'the store\'s index.json is not valid JSON', join(this.root, 'index.json'));
    }
  }

  /** Replaces index.json with `change(current)`, atomically, under the lock. */
  async updateIndex(change: (manifests: Descriptor[]) => Descriptor[]): Promise<Index> {
    return withLock(this.lockPath, async () => this.replaceIndex(change));
  }

  /**
   * Replaces index.json with `change(current)`, atomically; the caller holds the lock. Synchronous
   * from the read to the rename, so that a signal cannot come in between.
   */
  replaceIndex(change: (manifests: Descriptor[]) => Descriptor[]): Index {
    const index = this.readIndex();
    const next: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: change(index.manifests) };
    writeFileAtomically(join(this.root, 'index.json'), JSON.stringify(next));
    return next;
  }

  locked<T>(work: () => Promise<T>): Promise<T> {
    return withLock(this.lockPath, work);
  }

  /** Records, before they are written, the blobs a load will reference (prune keeps them). */
  beginPending(): Pending {
    const path = join(this.root, '.pending', `${process.pid}-${randomBytes(4).toString('hex')}`);
    return new Pending(path);
  }

  /** Digests that live loads are writing or are about to reference. */
  pendingDigests(): Set<string> {
    const out = new Set<string>();
    const dir = join(this.root, '.pending');
    for (const f of safeReaddir(dir)) {
      const pid = Number(f.split('-')[0]);
      const path = join(dir, f);
      if (!pidAlive(pid)) {
        rmSync(path, { force: true }); // left by a killed load
        continue;
      }
      for (const line of readFileSync(path, 'utf8').split('\n')) if (line) out.add(line);
    }
    return out;
  }

  /** Every file under blobs/ with its digest (or undefined for a temporary), size and age. */
  listBlobFiles(): { path: string; digest?: string; size: number; mtimeMs: number }[] {
    const out: { path: string; digest?: string; size: number; mtimeMs: number }[] = [];
    for (const alg of safeReaddir(join(this.root, 'blobs'))) {
      for (const name of safeReaddir(join(this.root, 'blobs', alg))) {
        const path = join(this.root, 'blobs', alg, name);
        const st = statSync(path);
        if (/\.prune-\d+$/.test(name)) continue; // a live prune's; recovered at open when its owner died
        out.push({ path, digest: /^[0-9a-f]+$/.test(name) ? `${alg}:${name}` : undefined, size: st.size, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }
}

export class Pending {
  private fd?: number;
  private forget?: () => void;
  constructor(readonly path: string) {}
  add(digest: string): void {
    if (this.fd === undefined) {
      this.fd = openSync(this.path, 'a');
      // A load stopped by a signal takes its list along (a killed one leaves it to pendingDigests).
      this.forget = atExit(() => rmSync(this.path, { force: true }));
    }
    writeSync(this.fd, `${digest}\n`);
  }
  end(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.forget?.();
    rmSync(this.path, { force: true });
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function isStoreSpec(spec: string): boolean {
  return spec === STORE_SPEC;
}

export function storeUsageError(spec: string): never {
  throw usage('bad-store', 'the store is named `store:` (the path comes from --store or $IMGPACK_STORE)', spec);
}
