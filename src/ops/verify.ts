/**
 * `verify`: checks everything and reports every problem, not just the first. The readers already
 * checked structure (JSON shapes, media types, names, missing blobs, metadata digests); here every
 * referenced blob is streamed once to check its digest and size and, for layers, its diffID.
 */
import { ImgpackError, sizeMismatch } from '../errors.js';
import { sniffCompression, MAGIC_LENGTH } from '../io/compression.js';
import { digestStream } from '../io/hashing.js';
import type { ArchiveSource } from '../formats/source.js';
import { openSource } from '../formats/source.js';
import type { BlobRef, Findings, Problem } from '../model/catalog.js';
import { algorithmOf, type DigestAlgorithm } from '../model/digest.js';
import { runPool } from '../io/pool.js';
import { HashPool } from '../io/hash-pool.js';
import { checkVolumes, findVolumeSet, VolumeError, type VolumeSet } from '../io/volumes.js';
import { checkpoint, throwIfCancelled } from '../io/cancel.js';
import { compareWithLock, transferManifestOf, type LockComparison, type SetLock } from './lock.js';
import { rootsOf, type PlanRoot } from './plan.js';

export interface VerifyReport {
  ok: boolean;
  source: string;
  format: string | null;
  images: number;
  /** Every content-addressed blob checked: manifests, indexes, configs and layers (what convert's "N blobs" counts). */
  blobsChecked: number;
  bytesChecked: number;
  problems: Problem[];
  warnings: Problem[];
  /** Uncompressed size of each layer content checked, by diffID (what `images` shows as SIZE). */
  contentSizes: Record<string, number>;
  /**
   * A delta bundle: the inventory it was cut against and what it leaves out (absent on purpose,
   * not corrupt); `complete` once --base was checked to hold every blob left out.
   */
  delta?: { inventory: string; match: string; blobsOmitted: number; bytesOmitted: number; complete?: boolean };
  /**
   * With a lock: what the bundle holds against it, the lock's sha256, and the sha256 of the lock
   * the bundle's transfer manifest says it was made from (if it says).
   */
  lock?: LockComparison & { path: string; sha256: string; madeFrom?: string };
}

export interface VerifyOptions {
  onProgress?: (e: { member: string; bytes: number; total: number }) => void;
  concurrency?: number;
  /**
   * For a caller that then copies blobs through the copy engine, which checks each blob's digest
   * as it streams (load): true for the digests that copy will stream. Verify leaves those blobs to
   * it and checks the rest (blobs the copy skips, diffIDs of compressed layers), so that a load
   * hashes each byte once and still checks every one.
   */
  copyChecksDigest?: (digest: string) => boolean;
  /** For a delta: the sources that must hold every blob it leaves out (verify --base). */
  base?: ArchiveSource[];
  /** An image set's lock: the bundle must hold exactly what it names (verify --lock). */
  lock?: { lock: SetLock; sha256: string; path: string };
}

/** Opens and verifies. Exit-1 errors while opening become problems; exit-2 ones are thrown. */
export async function verifyPath(spec: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const set = spec === '-' ? undefined : loadableSetOf(spec);
  const roots: PlanRoot[] = [];
  const report = set ? await verifyLoadableSet(spec, set, opts, roots) : await verifyArchive(spec, opts, roots);
  if (opts.lock) checkLock(spec, report, roots, opts.lock);
  return report;
}

/** The bundle's images against the lock: every difference is a problem. */
function checkLock(spec: string, report: VerifyReport, roots: PlanRoot[], given: NonNullable<VerifyOptions['lock']>): void {
  const c = compareWithLock(roots, given.lock);
  const madeFrom = transferManifestOf(spec)?.lock?.sha256;
  report.lock = { ...c, path: given.path, sha256: given.sha256, ...(madeFrom ? { madeFrom } : {}) };
  for (const m of c.missing) report.problems.push({ code: 'lock-missing', message: `missing: the lock names it (${m.digest}), the bundle does not hold it`, subject: m.reference });
  for (const d of c.different) report.problems.push({ code: 'lock-digest', message: `different: ${d.reason}; the lock names ${d.locked}, the bundle has ${d.found.join(', ')}`, subject: d.reference });
  for (const x of c.extra) report.problems.push({ code: 'lock-extra', message: `extra: in the bundle (${x.digest}), not in the lock`, subject: x.name ?? x.digest });
  if (madeFrom && madeFrom !== given.sha256) report.warnings.push({ code: 'lock-other', message: `the transfer manifest says the bundle was made from lock ${madeFrom}, not this one (${given.sha256})`, subject: given.path });
  report.ok = report.problems.length === 0;
}

/** One archive (a volume of a loadable set is one too); its roots go into `roots` for a lock check. */
async function verifyArchive(spec: string, opts: VerifyOptions, roots?: PlanRoot[]): Promise<VerifyReport> {
  let source: ArchiveSource;
  try {
    source = await openSource(spec);
  } catch (e) {
    if (e instanceof VolumeError) {
      return { ok: false, source: spec, format: null, images: 0, blobsChecked: 0, bytesChecked: 0, problems: e.problems, warnings: [], contentSizes: {} };
    }
    if (e instanceof ImgpackError && e.exitCode === 1) {
      return { ok: false, source: spec, format: null, images: 0, blobsChecked: 0, bytesChecked: 0, problems: [{ code: e.code, message: e.message, subject: e.subject ?? spec }], warnings: [], contentSizes: {} };
    }
    throw e;
  }
  try {
    roots?.push(...rootsOf(source));
    const report = await verifySource(source, opts);
    // Damaged parity volumes do not stop a load, but verify says the media is not sound.
    const parity = report.warnings.filter((w) => w.code.startsWith('parity-') || w.code === 'volumes-repairable');
    if (parity.length) {
      report.problems.push(...parity);
      report.warnings = report.warnings.filter((w) => !parity.includes(w));
      report.ok = false;
    }
    return report;
  } finally {
    await source.close();
  }
}

/** A set of --loadable-volumes named by FILE.001 or its manifest, else undefined. */
function loadableSetOf(spec: string): VolumeSet | undefined {
  try {
    const set = findVolumeSet(spec);
    return set?.loadable ? set : undefined;
  } catch {
    return undefined; // a bad manifest is reported by the ordinary path
  }
}

/** Every volume checked against the manifest, then each verified as the archive it is. */
async function verifyLoadableSet(spec: string, set: VolumeSet, opts: VerifyOptions, roots?: PlanRoot[]): Promise<VerifyReport> {
  const problems = await checkVolumes(set);
  const report: VerifyReport = { ok: true, source: spec, format: null, images: 0, blobsChecked: 0, bytesChecked: 0, problems, warnings: [], contentSizes: {} };
  for (const file of set.files) {
    if (problems.some((p) => p.subject === file)) continue; // missing or altered: named already
    const r = await verifyArchive(file, opts, roots);
    report.format ??= r.format;
    report.images += r.images;
    report.blobsChecked += r.blobsChecked;
    report.bytesChecked += r.bytesChecked;
    report.problems.push(...r.problems);
    report.warnings.push(...r.warnings);
    Object.assign(report.contentSizes, r.contentSizes);
  }
  report.ok = report.problems.length === 0;
  return report;
}

export async function verifySource(source: ArchiveSource, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const findings = source.catalog.findings;
  await checkLinks(source, findings);
  // An archive without images is not an image archive; an empty store is just empty (a load
  // killed before its first image, or rmi of everything), and sound.
  if (source.format !== 'store' && source.catalog.images.length === 0 && source.catalog.artifacts.length === 0 && findings.problems.length === 0) {
    findings.problem('no-images', 'the archive holds no images', source.display);
  }
  // Metadata blobs were hashed when read; layers and other blobs are streamed here, one member once.
  const byMember = new Map<string, BlobRef[]>();
  const metadata = new Set<string>();
  for (const ref of source.catalog.blobs) {
    if (ref.kind === 'manifest' || ref.kind === 'index' || ref.kind === 'config') {
      metadata.add(ref.member);
      continue;
    }
    const list = byMember.get(ref.member) ?? [];
    list.push(ref);
    byMember.set(ref.member, list);
  }
  let bytes = 0;
  const contentSizes: Record<string, number> = {};
  const total = await totalSize(source, [...byMember.keys()]);
  const pool = HashPool.forWork(total);
  try {
    await runPool([...byMember.entries()], opts.concurrency ?? 4, async ([member, refs]) => {
      await checkpoint();
      const checked = await checkMember(source, member, refs, findings, pool, contentSizes, opts.copyChecksDigest);
      bytes += checked;
      opts.onProgress?.({ member, bytes, total });
    });
  } finally {
    await pool.close();
  }
  // A blob is every content-addressed member (manifests, indexes, configs, layers), as convert
  // counts what it writes: the same archive gets the same count from both.
  for (const m of byMember.keys()) metadata.delete(m);
  bytes += await totalSize(source, [...metadata]);
  const delta = source.catalog.delta;
  let deltaReport: VerifyReport['delta'];
  if (delta) {
    deltaReport = { inventory: delta.inventory, match: delta.match, blobsOmitted: delta.omitted.length, bytesOmitted: delta.omitted.reduce((n, o) => n + o.size, 0) };
    if (opts.base) {
      const lacking = baseLacks(delta.omitted.map((o) => o.digest), opts.base);
      for (const d of lacking) findings.problem('delta-base-missing', `left out of the delta but not in ${opts.base.map((b) => b.display).join(', ')}`, d);
      deltaReport.complete = lacking.length === 0;
    }
  }
  return {
    ok: findings.problems.length === 0,
    source: source.display,
    format: source.format,
    images: source.catalog.images.length,
    blobsChecked: byMember.size + metadata.size,
    bytesChecked: bytes,
    problems: findings.problems,
    warnings: findings.warnings,
    contentSizes,
    ...(deltaReport ? { delta: deltaReport } : {}),
  };
}

/** The digests that none of the base sources holds. */
export function baseLacks(digests: string[], base: ArchiveSource[]): string[] {
  return digests.filter((d) => !base.some((b) => b.tree.exists(b.memberOf(d))));
}

async function checkMember(source: ArchiveSource, member: string, refs: BlobRef[], findings: Findings, pool: HashPool, contentSizes: Record<string, number>, copyChecksDigest?: (digest: string) => boolean): Promise<number> {
  const r = await source.tree.resolve(member);
  if (!r.ok) {
    findings.problem('missing-blob', `${member}: ${r.message}`, refs[0].subject);
    return 0;
  }
  const algorithms = [...new Set(refs.flatMap((x) => (x.digest ? [algorithmOf(x.digest)] : [])))] as DigestAlgorithm[];
  const wantsContent = refs.some((x) => x.diffId);
  const compression = wantsContent ? sniffCompression(await source.tree.head(r.file, MAGIC_LENGTH)) : undefined;
  // Uncompressed, the stored bytes are the content: the copy's digest check is the diffID check too.
  const storedDigest = (ref: BlobRef) => ref.digest ?? (compression === 'none' ? ref.diffId : undefined);
  if (copyChecksDigest && (compression === undefined || compression === 'none') && refs.every((ref) => storedDigest(ref) && copyChecksDigest(storedDigest(ref)!))) {
    for (const ref of refs) {
      if (ref.diffId && ref.digest && ref.digest !== ref.diffId) findings.problem('diffid-mismatch', `layer ${member} is uncompressed, so its digest ${ref.digest} must equal the config's diff_id ${ref.diffId}`, ref.subject);
      if (ref.diffId) contentSizes[ref.diffId] = r.file.size;
    }
    return 0;
  }
  let digests: { size: number; stored: Partial<Record<string, string>>; content?: string; contentSize?: number };
  try {
    if (compression === undefined || compression === 'none' || compression === 'gzip') {
      // The common case (docker save's uncompressed layers, gzip layers) hashes on every core.
      const res = await pool.run({ segments: source.tree.location(r.file), algorithms, gzip: compression === 'gzip', contentIsStored: compression === 'none' });
      if (res.error) throw new Error(res.error);
      digests = res;
    } else {
      digests = await digestStream(source.tree.openRange(r.file), { algorithms, compression, subject: member });
    }
  } catch (e) {
    throwIfCancelled(); // a signal is not damage to report
    const msg = e instanceof ImgpackError ? e.message : (e as Error).message;
    findings.problem('corrupt-layer', `${member}: cannot be read: ${msg}`, refs[0].subject);
    return r.file.size;
  }
  for (const ref of refs) {
    if (ref.size !== undefined && ref.size !== digests.size) {
      findings.problem('size-mismatch', sizeMismatch(member, digests.size, ref.size), ref.subject);
    }
    if (ref.digest) {
      const actual = digests.stored[algorithmOf(ref.digest)];
      if (actual !== ref.digest) findings.problem('digest-mismatch', `${member} content has digest ${actual}, not ${ref.digest}`, ref.subject);
    }
    if (ref.diffId && digests.content === ref.diffId && digests.contentSize !== undefined) contentSizes[ref.diffId] = digests.contentSize;
    if (ref.diffId && digests.content !== ref.diffId) {
      findings.problem('diffid-mismatch', `layer ${member} uncompressed has digest ${digests.content}, but the config's diff_id is ${ref.diffId}`, ref.subject);
    }
  }
  return digests.size;
}

async function totalSize(source: ArchiveSource, members: string[]): Promise<number> {
  let total = 0;
  for (const m of members) {
    const r = await source.tree.resolve(m);
    if (r.ok) total += r.file.size;
  }
  return total;
}

/** Symlinks and hardlinks of the outer archive must stay inside it and must not loop. */
async function checkLinks(source: ArchiveSource, findings: Findings): Promise<void> {
  for (const link of source.tree.links()) {
    const r = await source.tree.resolve(link.name);
    if (!r.ok && r.reason === 'escapes') findings.problem('link-escapes', `${link.type} points outside the archive (-> ${link.target})`, link.name);
    if (!r.ok && r.reason === 'loop') findings.problem('link-loop', `${link.type} loops (-> ${link.target})`, link.name);
  }
}

