/**
 * USB volumes: an archive split into FILE.001, FILE.002, ... (plain byte splits: `cat FILE.0* >
 * FILE` rebuilds it) and the transfer manifest FILE.imgpack.json, which pins every volume's size
 * and sha256 and the whole archive's. Volumes are read as one file, with no reassembled copy.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ImgpackError, invalid, usage } from '../errors.js';
import { HashPool } from './hash-pool.js';
import { registerTemp, releaseTemp, siblingTempName } from './temp.js';
import type { ByteSink } from './tar-writer.js';
import { SegmentedFile } from './segmented-file.js';
import type { Problem } from '../model/catalog.js';

export const FAT32_MAX = 4294967295;
const MANIFEST_SUFFIX = '.imgpack.json';

/** CLI.md sizes: K, M, G, T are binary; a plain number is bytes; `fat32` is 2^32 - 1. */
export function parseSize(input: string): number {
  if (input.toLowerCase() === 'fat32') return FAT32_MAX;
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(input.trim());
  if (!m) throw usage('bad-size', 'a size is a number of bytes, or with K, M, G or T (binary units), or fat32', input);
  const n = Math.floor(Number(m[1]) * 1024 ** ' KMGT'.indexOf(m[2].toUpperCase() || ' '));
  if (!Number.isSafeInteger(n) || n < 1024 * 1024) throw usage('bad-size', 'a volume must hold at least 1M', input);
  return n;
}

export interface TransferManifest {
  kind: 'imgpack-transfer';
  version: 1;
  imgpackVersion: string;
  created: string;
  format?: string;
  compression?: string;
  images: { id: string; names: string[]; platform?: string }[];
  volumes: { name: string; size: number; sha256: string }[];
  size: number;
  sha256: string;
}

export function volumeName(target: string, n: number): string {
  return `${target}.${String(n).padStart(3, '0')}`;
}

export function manifestPathOf(target: string): string {
  return `${target}${MANIFEST_SUFFIX}`;
}

/**
 * Writes bytes into volumes of at most `volumeSize` bytes, each under a temporary name until
 * commit. The whole archive's sha256 is inherently sequential, so it is updated here as bytes
 * pass (no read-back pass at the end); each full volume's sha256 is computed by a worker thread
 * from the page cache while the next volume is written, so the two run on different cores.
 */
export class VolumeSink implements ByteSink {
  private readonly volumes: { temp: string; remove: () => void; fd: number; size: number; sha256?: Promise<string> }[] = [];
  private totalSize = 0;
  private readonly whole = createHash('sha256');
  private readonly pool = new HashPool(Math.min(2, availableParallelism()));

  constructor(private readonly target: string, private readonly volumeSize: number) {}

  write(buf: Buffer): void {
    this.whole.update(buf);
    let off = 0;
    while (off < buf.length) {
      let v = this.volumes[this.volumes.length - 1];
      if (!v || v.size === this.volumeSize) v = this.next();
      const n = Math.min(buf.length - off, this.volumeSize - v.size);
      let written = 0;
      while (written < n) written += writeSync(v.fd, buf, off + written, n - written);
      v.size += n;
      this.totalSize += n;
      off += n;
    }
  }

  private next() {
    this.seal(this.volumes[this.volumes.length - 1]);
    const name = volumeName(this.target, this.volumes.length + 1);
    const temp = siblingTempName(name);
    const remove = registerTemp(temp);
    const v: (typeof this.volumes)[number] = { temp, remove, fd: openSync(temp, 'wx'), size: 0 };
    this.volumes.push(v);
    return v;
  }

  /**
   * A full volume is fsynced and hashed by a worker thread while the next one is written: the
   * copy does not wait for sha256 (the hash reads back what reached the file).
   */
  private seal(v: (typeof this.volumes)[number] | undefined): void {
    if (!v || v.sha256) return;
    fsyncSync(v.fd);
    closeSync(v.fd);
    v.sha256 = this.pool.run({ segments: [{ path: v.temp, start: 0, length: v.size }], algorithms: ['sha256'] }).then((r) => {
      if (r.error || !r.stored.sha256) throw new Error(r.error ?? 'hashing failed');
      return r.stored.sha256;
    });
    v.sha256.catch(() => {});
  }

  /** fsync, rename every volume into place, then write the manifest: the set appears whole. */
  async commit(info: Omit<TransferManifest, 'kind' | 'version' | 'volumes' | 'size' | 'sha256'>): Promise<TransferManifest> {
    if (this.volumes.length === 0) this.next();
    this.seal(this.volumes[this.volumes.length - 1]);
    const hashes = await Promise.all(this.volumes.map((v) => v.sha256!));
    await this.pool.close();
    const volumes = this.volumes.map((v, i) => ({ name: basename(volumeName(this.target, i + 1)), size: v.size, sha256: hashes[i], temp: v.temp }));
    removeStaleVolumes(this.target, volumes.length);
    // The set must never look whole when it is not (kill -9 between two renames): the old
    // manifest and the old FILE.001 go first, and the volumes are renamed last to first, so
    // FILE.001, which names the set, appears only when every other volume is in place.
    rmSync(manifestPathOf(this.target), { force: true });
    rmSync(volumeName(this.target, 1), { force: true });
    for (let i = volumes.length - 1; i >= 0; i--) {
      renameSync(volumes[i].temp, volumeName(this.target, i + 1));
      releaseTemp(volumes[i].temp);
    }
    const manifest: TransferManifest = {
      kind: 'imgpack-transfer', version: 1, ...info,
      volumes: volumes.map(({ name, size, sha256 }) => ({ name, size, sha256 })),
      size: this.totalSize, sha256: `sha256:${this.whole.digest('hex')}`,
    };
    const temp = siblingTempName(manifestPathOf(this.target));
    const fd = openSync(temp, 'wx');
    writeSync(fd, JSON.stringify(manifest, null, 2) + '\n');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, manifestPathOf(this.target));
    return manifest;
  }

  abort(): void {
    for (const v of this.volumes) {
      if (!v.sha256) {
        try { closeSync(v.fd); } catch { /* closed */ }
      }
      v.remove();
    }
    void this.pool.close();
  }
}

/** Volumes of an older, longer set under the same name would be read as part of this one. */
function removeStaleVolumes(target: string, count: number): void {
  for (let n = count + 1; existsSync(volumeName(target, n)); n++) rmSync(volumeName(target, n), { force: true });
}

export interface VolumeSet {
  /** The archive's name: FILE for FILE.001. */
  base: string;
  manifest?: TransferManifest;
  files: string[];
}

/** FILE.001 or FILE.imgpack.json names a volume set; anything else does not. */
export function findVolumeSet(spec: string): VolumeSet | undefined {
  let base: string;
  if (spec.endsWith(MANIFEST_SUFFIX)) base = spec.slice(0, -MANIFEST_SUFFIX.length);
  else if (/\.\d{3}$/.test(spec) && spec.endsWith('.001')) base = spec.slice(0, -4);
  else return undefined;
  const manifestPath = manifestPathOf(base);
  let manifest: TransferManifest | undefined;
  if (existsSync(manifestPath)) {
    try {
      manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as TransferManifest;
    } catch {
      throw invalid('bad-transfer-manifest', 'the transfer manifest is not valid JSON', manifestPath);
    }
    if (manifest.kind !== 'imgpack-transfer' || !Array.isArray(manifest.volumes)) throw invalid('bad-transfer-manifest', 'not an imgpack transfer manifest', manifestPath);
    const dir = dirname(manifestPath);
    for (const v of manifest.volumes) if (v.name.includes('/') || v.name.includes('..')) throw invalid('bad-transfer-manifest', 'a volume name must be a plain file name', v.name);
    return { base, manifest, files: manifest.volumes.map((v) => join(dir, v.name)) };
  }
  if (spec.endsWith(MANIFEST_SUFFIX)) throw usage('enoent', 'no such file or directory', spec);
  const files: string[] = [];
  for (let n = 1; existsSync(volumeName(base, n)); n++) files.push(volumeName(base, n));
  if (files.length === 0) return undefined;
  return { base, files };
}

/** Every volume's presence, size and sha256 against the manifest; all problems, named. */
export async function checkVolumes(set: VolumeSet): Promise<Problem[]> {
  const problems: Problem[] = [];
  if (!set.manifest) return problems;
  const jobs: { file: string; expect: TransferManifest['volumes'][number] }[] = [];
  set.manifest.volumes.forEach((v, i) => {
    const file = set.files[i];
    if (!existsSync(file)) {
      problems.push({ code: 'volume-missing', message: `${basename(file)} missing`, subject: file });
      return;
    }
    const size = statSync(file).size;
    if (size !== v.size) {
      problems.push({ code: 'volume-size', message: `${basename(file)}: ${size < v.size ? 'truncated' : 'too long'}: ${size} bytes, the manifest says ${v.size}`, subject: file });
      return;
    }
    jobs.push({ file, expect: v });
  });
  const extra = volumeName(set.base, set.manifest.volumes.length + 1);
  if (existsSync(extra)) problems.push({ code: 'volume-extra', message: `${basename(extra)} is not part of this set (the manifest lists ${set.manifest.volumes.length} volumes)`, subject: extra });
  const pool = HashPool.forWork(jobs.reduce((n, j) => n + j.expect.size, 0));
  try {
    await Promise.all(jobs.map(async (j) => {
      const r = await pool.run({ segments: [{ path: j.file, start: 0, length: j.expect.size }], algorithms: ['sha256'] });
      if (r.stored.sha256 !== j.expect.sha256) problems.push({ code: 'volume-sha256', message: `${basename(j.file)}: sha256 mismatch`, subject: j.file });
    }));
  } finally {
    await pool.close();
  }
  return problems.sort((a, b) => a.subject.localeCompare(b.subject));
}

export function volumeFile(set: VolumeSet): SegmentedFile {
  return new SegmentedFile(set.files.map((path) => ({ path, size: statSync(path).size })));
}

/** Thrown when volumes are missing or damaged: every problem, before anything is read. */
export class VolumeError extends ImgpackError {
  constructor(readonly problems: Problem[], subject: string) {
    super('volumes-damaged', `volumes are missing or damaged, nothing was read: ${problems.map((p) => p.message).join('; ')}`, subject, 1);
  }
}

