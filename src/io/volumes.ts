/**
 * USB volumes: an archive split into FILE.001, FILE.002, ... (plain byte splits: `cat FILE.0* >
 * FILE` rebuilds it) and the transfer manifest FILE.imgpack.json, which pins every volume's size
 * and sha256 and the whole archive's. Volumes are read as one file, with no reassembled copy.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ImgpackError, invalid, usage } from '../errors.js';
import { HashPool } from './hash-pool.js';
import { writeFileAtomically } from './atomic.js';
import { registerTemp, releaseTemp, siblingTempName } from './temp.js';
import { checkpoint, throwIfCancelled } from './cancel.js';
import type { ByteSink } from './tar-writer.js';
import { SegmentedFile } from './segmented-file.js';
import type { Problem } from '../model/catalog.js';
import { checkShardCount, encodeParity, parityName, PARITY_SCHEME, type ParityInfo } from './parity.js';

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

export type SizeUnit = 'KiB' | 'MiB' | 'GiB' | 'TiB';

/** The binary unit a size was given in (`300M`: MiB), to report sizes back in it; undefined for plain bytes and fat32. */
export function sizeUnitOf(input: string): SizeUnit | undefined {
  const m = /^\d+(?:\.\d+)?([KMGT])i?B?$/i.exec(input.trim());
  return m ? (`${m[1].toUpperCase()}iB` as SizeUnit) : undefined;
}

export interface TransferManifest {
  kind: 'imgpack-transfer';
  version: 1;
  imgpackVersion: string;
  created: string;
  format?: string;
  compression?: string;
  images: { id: string; names: string[]; platform?: string }[];
  volumes: { name: string; size: number; sha256: string; images?: string[] }[];
  /** The volumes' total size and the sha256 of their bytes in order (what `cat FILE.0*` gives). */
  size: number;
  sha256: string;
  /**
   * Loadable volumes: each volume is a complete archive of the images listed on it (that docker
   * load takes on its own), not a byte split; `cat FILE.0*` does not rebuild anything.
   */
  loadable?: true;
  /** Every blob in the archive (what a signature over this manifest pins, beyond the bytes). */
  blobs?: { digest: string; size: number }[];
  /** Set for a delta bundle: the inventory it was cut against and the blobs it leaves out. */
  delta?: { inventory: string; match: 'blob' | 'chain'; omitted: { digest: string; size: number }[] };
  /** Parity volumes FILE.p01... (Reed-Solomon over GF(256); see io/parity.ts). */
  parity?: ParityInfo;
  /** Made from an image set: the sha256 of its lock (verify --lock compares) and how many images it names. */
  lock?: { sha256: string; images: number };
}

export function volumeName(target: string, n: number): string {
  return `${target}.${String(n).padStart(3, '0')}`;
}

export function manifestPathOf(target: string): string {
  return `${target}${MANIFEST_SUFFIX}`;
}

/**
 * The transfer manifest a named input would have: FILE.imgpack.json for FILE, for any volume
 * FILE.NNN of a set (present or not), and for the manifest itself.
 */
export function manifestPathFor(spec: string): string {
  if (spec.endsWith(MANIFEST_SUFFIX)) return spec;
  const volume = /^(.+)\.\d{3}$/.exec(spec);
  // A single file that happens to end in .NNN, signed on its own, has FILE.NNN.imgpack.json.
  return volume && !existsSync(manifestPathOf(spec)) ? manifestPathOf(volume[1]) : manifestPathOf(spec);
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

  /** `parity`: how many parity volumes (FILE.p01...) to add; 0 for none. */
  constructor(private readonly target: string, private readonly volumeSize: number, private readonly parity = 0) {}

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

  /** Hashes, parity, then every volume into place and the manifest: the set appears whole. */
  async commit(info: Omit<TransferManifest, 'kind' | 'version' | 'volumes' | 'size' | 'sha256'>): Promise<TransferManifest> {
    if (this.volumes.length === 0) this.next();
    this.seal(this.volumes[this.volumes.length - 1]);
    const hashes = await Promise.all(this.volumes.map((v) => v.sha256!));
    await this.pool.close();
    const volumes = this.volumes.map((v, i) => ({ name: basename(volumeName(this.target, i + 1)), size: v.size, sha256: hashes[i], temp: v.temp }));
    const parity = this.parity > 0 ? await this.writeParity(volumes) : undefined;
    throwIfCancelled(); // publishing is synchronous: the whole set appears, or nothing
    const manifest: TransferManifest = {
      kind: 'imgpack-transfer', version: 1, ...info,
      volumes: volumes.map(({ name, size, sha256 }) => ({ name, size, sha256 })),
      size: this.totalSize, sha256: `sha256:${this.whole.digest('hex')}`,
      ...(parity ? { parity: parity.info } : {}),
    };
    publishVolumes(this.target, volumes.map((v) => v.temp), parity?.temps ?? [], manifest);
    return manifest;
  }

  /** Parity volumes from the data volumes' temporaries, themselves under temporary names. */
  private async writeParity(volumes: { size: number; temp: string }[]): Promise<{ info: ParityInfo; temps: { temp: string; path: string }[] }> {
    const problem = checkShardCount(volumes.length, this.parity);
    if (problem) throw usage('too-many-volumes', problem, this.target);
    const temps = Array.from({ length: this.parity }, (_, i) => {
      const path = parityName(this.target, i);
      const temp = siblingTempName(path);
      this.parityTemps.push(registerTemp(temp));
      return { temp, path };
    });
    const out = await encodeParity(volumes.map((v) => ({ path: v.temp, size: v.size })), temps.map((t) => t.temp));
    return {
      info: { scheme: PARITY_SCHEME, shardSize: out[0].size, volumes: out.map((o, i) => ({ name: basename(parityName(this.target, i)), size: o.size, sha256: o.sha256 })) },
      temps,
    };
  }

  private readonly parityTemps: (() => void)[] = [];

  abort(): void {
    for (const remove of this.parityTemps) remove();
    for (const v of this.volumes) {
      if (!v.sha256) {
        try { closeSync(v.fd); } catch { /* closed */ }
      }
      v.remove();
    }
    void this.pool.close();
  }
}

/**
 * FILE.imgpack.json for an archive written as one file (so that it can be signed): the file is
 * its only "volume", so verify and load of FILE.imgpack.json check its sha256 as for a set.
 */
export function writeFileManifest(target: string, info: Omit<TransferManifest, 'kind' | 'version' | 'volumes' | 'size' | 'sha256'>): TransferManifest {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  const fd = openSync(target, 'r');
  let size = 0;
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, size)) > 0; size += n) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  const sha256 = `sha256:${hash.digest('hex')}`;
  const manifest: TransferManifest = { kind: 'imgpack-transfer', version: 1, ...info, volumes: [{ name: basename(target), size, sha256 }], size, sha256 };
  writeManifestFile(target, manifest);
  return manifest;
}

function writeManifestFile(target: string, manifest: TransferManifest): void {
  writeFileAtomically(manifestPathOf(target), JSON.stringify(manifest, null, 2) + '\n');
}

/**
 * Finished volumes from their temporary names into place, then the manifest. The set must never
 * look whole when it is not (kill -9 between two renames): the old manifest and the old FILE.001
 * go first, and the volumes are renamed last to first, so that FILE.001, which names the set,
 * appears only when every other volume is in place.
 */
export function publishVolumes(target: string, temps: string[], parity: { temp: string; path: string }[], manifest: TransferManifest): void {
  removeStaleVolumes(target, temps.length, parity.length);
  rmSync(manifestPathOf(target), { force: true });
  rmSync(volumeName(target, 1), { force: true });
  for (let i = temps.length - 1; i >= 0; i--) {
    renameSync(temps[i], volumeName(target, i + 1));
    releaseTemp(temps[i]);
  }
  for (const p of parity) {
    renameSync(p.temp, p.path);
    releaseTemp(p.temp);
  }
  writeManifestFile(target, manifest);
}

/** Volumes of an older, longer set under the same name would be read as part of this one. */
function removeStaleVolumes(target: string, count: number, parity: number): void {
  for (let n = count + 1; existsSync(volumeName(target, n)); n++) rmSync(volumeName(target, n), { force: true });
  for (let i = parity; existsSync(parityName(target, i)); i++) rmSync(parityName(target, i), { force: true });
}

export interface VolumeSet {
  /** The archive's name: FILE for FILE.001. */
  base: string;
  manifest?: TransferManifest;
  files: string[];
  /** Each volume is an archive of its own (--loadable-volumes), not a byte split. */
  loadable?: boolean;
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
    return { base, manifest, files: manifest.volumes.map((v) => join(dir, v.name)), loadable: manifest.loadable === true };
  }
  if (spec.endsWith(MANIFEST_SUFFIX)) throw usage('enoent', 'no such file or directory', spec);
  const files: string[] = [];
  for (let n = 1; existsSync(volumeName(base, n)); n++) files.push(volumeName(base, n));
  if (files.length === 0) return undefined;
  return { base, files };
}

/**
 * FILE.002, FILE.003, ... of a byte-split set (FILE.001 or FILE.imgpack.json beside it): not an
 * archive of its own, so the reader asks for the first volume instead. `certain` when the
 * manifest says the set is a byte split; without one, only a volume that is not a tar is one.
 */
export function laterVolumeOf(spec: string): { n: number; first: string; manifest: string; certain: boolean } | undefined {
  const m = /^(.+)\.(\d{3})$/.exec(spec);
  if (!m || Number(m[2]) < 2) return undefined;
  const [base, n] = [m[1], Number(m[2])];
  const manifest = manifestPathOf(base);
  const first = volumeName(base, 1);
  if (existsSync(manifest)) {
    try {
      const doc = JSON.parse(readFileSync(manifest, 'utf8')) as TransferManifest;
      if (doc.loadable) return undefined; // each volume is an archive of its own
      return { n, first, manifest, certain: true };
    } catch {
      return { n, first, manifest, certain: false };
    }
  }
  return existsSync(first) ? { n, first, manifest, certain: false } : undefined;
}

export function laterVolumeError(v: { n: number; first: string; manifest: string }, spec: string): ImgpackError {
  return usage('later-volume', `${basename(spec)} is volume ${v.n} of a set, not an archive of its own: name the first volume, ${v.first}${existsSync(v.manifest) ? ` (or ${v.manifest})` : ''}`, spec);
}

/** Why `spec` names no volume set, for the commands that need one (repair, join). */
export function noVolumeSetError(spec: string): ImgpackError {
  const later = laterVolumeOf(spec);
  if (later) return laterVolumeError(later, spec);
  const first = /^(.+)\.001$/.exec(spec);
  if (first && !existsSync(spec)) {
    return usage('enoent', `${basename(spec)} is missing, and so is the transfer manifest ${basename(manifestPathOf(first[1]))}: nothing here says what the set held`, spec);
  }
  return usage('usage', 'name the first volume (FILE.001) or the transfer manifest (FILE.imgpack.json)', spec);
}

/** One volume (data or parity) checked against the manifest. */
export interface VolumeCheck {
  file: string;
  expect: { name: string; size: number; sha256: string };
  parity: boolean;
  problem?: Problem;
}

/** Every volume's presence, size and sha256 against the manifest, parity volumes included. */
export async function checkEachVolume(set: VolumeSet): Promise<VolumeCheck[]> {
  if (!set.manifest) return [];
  const dir = dirname(manifestPathOf(set.base));
  const checks: VolumeCheck[] = [
    ...set.manifest.volumes.map((v, i) => ({ file: set.files[i], expect: v, parity: false })),
    ...(set.manifest.parity?.volumes ?? []).map((v) => ({ file: join(dir, v.name), expect: v, parity: true })),
  ];
  const jobs: VolumeCheck[] = [];
  for (const c of checks) {
    const kind = c.parity ? 'parity' : 'volume';
    if (!existsSync(c.file)) {
      c.problem = { code: `${kind}-missing`, message: `${basename(c.file)} missing (${c.expect.size} bytes)`, subject: c.file };
      continue;
    }
    const size = statSync(c.file).size;
    if (size !== c.expect.size) {
      c.problem = size < c.expect.size
        ? { code: `${kind}-short`, message: `${basename(c.file)} is truncated: ${size} of the ${c.expect.size} bytes the manifest gives (${c.expect.size - size} missing)`, subject: c.file }
        : { code: `${kind}-size`, message: `${basename(c.file)} is too long: ${size} bytes, the manifest says ${c.expect.size}`, subject: c.file };
      continue;
    }
    jobs.push(c);
  }
  const pool = HashPool.forWork(jobs.reduce((n, j) => n + j.expect.size, 0));
  try {
    await Promise.all(jobs.map(async (j) => {
      const r = await pool.run({ segments: [{ path: j.file, start: 0, length: j.expect.size }], algorithms: ['sha256'] });
      if (r.stored.sha256 !== j.expect.sha256) j.problem = { code: `${j.parity ? 'parity' : 'volume'}-sha256`, message: `${basename(j.file)}: sha256 mismatch`, subject: j.file };
    }));
  } finally {
    await pool.close();
  }
  return checks;
}

/** What the parity volumes can do about the damage found. */
export interface RepairOutlook {
  damaged: string[];
  parityVolumes: number;
  repairable: boolean;
}

export function repairOutlook(set: VolumeSet, checks: VolumeCheck[]): RepairOutlook | undefined {
  const damaged = checks.filter((c) => c.problem).map((c) => basename(c.file));
  if (damaged.length === 0) return undefined;
  const parityVolumes = set.manifest?.parity?.volumes.length ?? 0;
  return { damaged, parityVolumes, repairable: parityVolumes > 0 && damaged.length <= parityVolumes };
}

/** Every volume's presence, size and sha256 against the manifest; all problems, named. */
export async function checkVolumes(set: VolumeSet): Promise<Problem[]> {
  const problems: Problem[] = [];
  if (!set.manifest) return problems;
  const checks = await checkEachVolume(set);
  for (const c of checks) if (c.problem) problems.push(c.problem);
  const extra = volumeName(set.base, set.manifest.volumes.length + 1);
  if (existsSync(extra) && !set.manifest.volumes.some((v) => v.name === basename(extra))) problems.push({ code: 'volume-extra', message: `${basename(extra)} is not part of this set (the manifest lists ${set.manifest.volumes.length} volume${set.manifest.volumes.length === 1 ? '' : 's'})`, subject: extra });
  problems.sort((a, b) => a.subject.localeCompare(b.subject));
  const outlook = repairOutlook(set, checks);
  if (outlook && outlook.parityVolumes > 0) problems.push(outlookProblem(set, outlook));
  return problems;
}

/** The closing line of a damage report: whether `imgpack repair` can rebuild what is damaged. */
function outlookProblem(set: VolumeSet, o: RepairOutlook): Problem {
  const first = set.files[0] ? basename(set.files[0]) : basename(set.base);
  if (o.repairable) return { code: 'volumes-repairable', message: `${o.damaged.length} damaged, ${o.parityVolumes} parity volume${o.parityVolumes === 1 ? '' : 's'}: repairable with imgpack repair ${first}`, subject: set.base };
  return { code: 'volumes-unrepairable', message: `${o.damaged.length} damaged but parity rebuilds at most ${o.parityVolumes}: unrepairable, copy the volumes again`, subject: set.base };
}

/** Only damage to data volumes stops a read; damaged parity volumes are reported, not fatal. */
export function blocksReading(problems: Problem[]): boolean {
  return problems.some((p) => p.code.startsWith('volume-'));
}

export function volumeFile(set: VolumeSet): SegmentedFile {
  return new SegmentedFile(set.files.map((path) => ({ path, size: statSync(path).size })));
}

/** Thrown when volumes are missing or damaged: every problem, before anything is read. */
export class VolumeError extends ImgpackError {
  constructor(readonly problems: Problem[], subject: string) {
    // Volumes that are only short or missing are a copy that did not finish, not damage.
    const cut = problems.every((p) => /-(short|missing)$/.test(p.code));
    super(cut ? 'volumes-incomplete' : 'volumes-damaged', `${cut ? 'the copy of the volumes is incomplete' : 'volumes are missing or damaged'}, nothing was read: ${problems.map((p) => p.message).join('; ')}`, subject, 1);
  }
}


/**
 * The archives a list of inputs stands for: a set of --loadable-volumes, named by FILE.001 or
 * its manifest, stands for every one of its volumes, each checked against the manifest first (a
 * missing, short or altered volume is named before anything is read); any other input for itself.
 */
export async function expandLoadableSets(specs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const spec of specs) {
    const set = spec === '-' ? undefined : findVolumeSet(spec);
    if (!set?.loadable) {
      out.push(spec);
      continue;
    }
    const problems = (await checkVolumes(set)).filter((p) => p.code.startsWith('volume-'));
    if (problems.length) throw new VolumeError(problems, spec);
    out.push(...set.files);
  }
  return out;
}
