/** Image sets on the command line (pull, save, copy -f FILE): the flags, the one progress display, the report. */
import { basename, dirname, extname, join } from 'node:path';
import type { Command } from 'commander';
import { invalid, usage } from '../errors.js';
import type { ArchiveSource } from '../formats/source.js';
import { readSetFiles, type ImageSet, type PlatformChoice, type SetEntry } from '../ops/set-file.js';
import { readFailureReport, runImageSet, writeFailureReport, type Delivery, type ImageSetReport, type ImageSetSummary, type LockInfo, type SetNote } from '../ops/image-sets.js';
import type { ResolvedOutput } from '../ops/write.js';
import { platformOf, type WriteFlags } from './write-common.js';
import { formatFull, familiarName, parseReferenceOrThrow } from '../model/reference.js';
import { collect, type CommandContext } from './context.js';
import { humanSize, short, table } from './format.js';
import { printJson } from './io.js';
import { progressFor } from './progress.js';

export interface SetFlags {
  file: string[];
  lock?: string;
  dryRun?: boolean;
  keepGoing?: boolean;
  report?: string;
  retry?: string;
  json?: boolean;
}

export function addSetOptions(cmd: Command, { retry = false } = {}): Command {
  cmd
    .option('-f, --file <set>', 'an image set: a list of references, one a line, or a YAML set with tag filters and platforms (repeatable)', collect, [])
    .option('--lock <file>', 'with -f: fetch what this lock pins; written first when it does not exist, and entries new in the set are added (default: every run writes SET.lock beside the set file)')
    .option('--dry-run', 'with -f: print what would be fetched (reference, digest, platforms, size); fetch and write nothing')
    .option('--keep-going', 'with -f: fetch everything that can be, print one line per failure, exit 1 if any failed')
    .option('--report <file>', 'with --keep-going: write the failures as JSON (pull --retry FILE fetches exactly those)');
  if (retry) cmd.option('--retry <report>', 'fetch exactly what a --keep-going run reported as failed (its --report FILE)');
  return cmd;
}

export function isSetRun(flags: SetFlags): boolean {
  if (flags.file.length || flags.retry) return true;
  for (const [flag, given] of [['--lock', flags.lock], ['--dry-run', flags.dryRun], ['--keep-going', flags.keepGoing], ['--report', flags.report]] as const) {
    if (given) throw usage('usage', `${flag} goes with an image set (-f FILE)`);
  }
  return false;
}

/** `set.yaml` -> `set.lock`, beside it. */
export function defaultLockPath(setFile: string): string {
  const ext = extname(setFile);
  return join(dirname(setFile), `${basename(setFile, ['.yaml', '.yml', '.txt', '.list'].includes(ext) ? ext : '')}.lock`);
}

export interface SetRunSettings {
  platforms?: PlatformChoice;
  from?: ArchiveSource;
  /** References given as arguments beside -f. */
  references?: string[];
  /** What the progress line says: pulling, saving... */
  verb: string;
}

/**
 * Reads the set (or the retry report), runs it, prints notes, failures and the lock, writes the
 * report, and sets exit 1 when anything failed. `deliver` writes what was fetched.
 */
export async function runSetCommand<T>(ctx: CommandContext, flags: SetFlags, settings: SetRunSettings, deliver: (d: Delivery) => Promise<T>): Promise<ImageSetReport<T>> {
  if (flags.report && !flags.keepGoing) throw usage('usage', '--report goes with --keep-going');
  if (flags.retry && flags.file.length) throw usage('usage', '--retry fetches what a report names: give no -f');
  let set: ImageSet;
  let lock: { path: string; read: boolean; keepOthers?: boolean };
  if (flags.retry) {
    const r = readFailureReport(flags.retry);
    set = r.set;
    const path = flags.lock ?? r.lock;
    lock = path ? { path, read: true, keepOthers: true } : { path: `${flags.retry}.lock`, read: false };
  } else {
    set = readSetFiles(flags.file);
    lock = flags.lock ? { path: flags.lock, read: true } : { path: defaultLockPath(flags.file[0]), read: false };
  }
  for (const r of settings.references ?? []) set.entries.push(commandLineEntry(r));
  if (set.entries.length === 0) {
    if (flags.retry) {
      if (!ctx.io.quiet) ctx.io.err(`Nothing to retry: ${flags.retry} names no failure`);
      return { images: [], failures: [], notes: [], size: 0 };
    }
    throw invalid('empty-set', 'the set names no image', flags.file.join(', '));
  }
  const progress = progressFor(ctx, 'resolving the set', 0);
  let report: ImageSetReport<T>;
  let delivered = false;
  try {
    await progress.phase('resolving the set');
    report = await runImageSet(set, {
      platforms: settings.platforms,
      from: settings.from,
      lock,
      dryRun: flags.dryRun,
      keepGoing: flags.keepGoing,
      onProgress: (e) => {
        if (e.phase !== 'fetch') return;
        progress.relabel(`${settings.verb} ${e.done}/${e.total} images`);
        progress.update(e.bytes, e.current.map(familiarName).join(', '), e.totalBytes);
      },
    }, async (d) => {
      progress.done();
      delivered = true;
      return deliver(d);
    });
  } finally {
    progress.done();
  }
  if (flags.dryRun && !flags.json) printDryRun(ctx, report);
  else if (flags.json && !delivered) printJson(ctx.io, setJson(report)); // else the writer printed it, with the set in it
  if (!ctx.io.quiet && !ctx.io.json) {
    for (const n of report.notes) ctx.io.err(noteLine(n));
    if (report.lock) ctx.io.err(`Lock ${report.lock.path}: ${report.lock.images} image${report.lock.images === 1 ? '' : 's'}, ${report.lock.written ? 'written' : 'unchanged'} (${report.lock.sha256})`);
    if (report.fetched) {
      const f = report.fetched;
      ctx.io.err(`Fetched ${f.images} of ${report.images.length} image${report.images.length === 1 ? '' : 's'}${f.blobsShared ? `; ${f.blobsShared} blob${f.blobsShared === 1 ? '' : 's'} (${humanSize(f.bytesShared)}) shared between images, downloaded once` : ''}`);
    }
  }
  for (const f of report.failures) ctx.io.err(`imgpack: failed: ${familiarName(f.reference)}${f.registry ? ` (${f.registry})` : ''}: ${f.reason}`);
  if (flags.report) writeFailureReport(flags.report, report.failures, report.lock?.path ?? (lock.read ? lock.path : undefined));
  if (report.failures.length) ctx.setExitCode(1);
  return report;
}

/** --platform / --all-platforms as the platforms of entries that name none. */
export function setPlatformsOf(flags: WriteFlags): PlatformChoice | undefined {
  if (flags.allPlatforms) {
    platformOf(flags); // refuses the two together
    return 'all';
  }
  const p = platformOf(flags);
  return p ? [p] : undefined;
}

/**
 * The output of a set run: a file gets its transfer manifest (FILE.imgpack.json), which records
 * the sha256 of the lock, so that the far side can tell which lock the bundle was made from.
 */
export function setOutputOf(out: ResolvedOutput, lock: LockInfo | undefined): ResolvedOutput {
  if (!lock) return out;
  const file = out.target !== '-' && out.format !== 'oci-layout' && out.format !== 'store' && out.format !== 'registry';
  if (!file) return out;
  return { ...out, ...(out.volumeSize ? {} : { transferManifest: true }), lock: { sha256: lock.sha256, images: lock.images } };
}

/** An argument beside -f is an entry like a line of a plain list. */
function commandLineEntry(input: string): SetEntry {
  return { kind: 'image', reference: formatFull(parseReferenceOrThrow(input)), origin: { file: 'the command line' } };
}

export function setJson(r: ImageSetSummary & { fetched?: ImageSetReport<unknown>['fetched'] }) {
  return {
    images: r.images.map(({ reference, digest, mediaType, platforms, size, locked }) => ({ reference, digest, mediaType, platforms, size, locked })),
    size: r.size,
    failures: r.failures,
    notes: r.notes,
    ...(r.lock ? { lock: r.lock } : {}),
    ...(r.fetched ? { fetched: r.fetched } : {}),
  };
}

function printDryRun(ctx: CommandContext, r: ImageSetSummary): void {
  const rows = r.images.map((i) => [familiarName(i.reference), i.digest, i.platforms.map((p) => p.platform).join(','), humanSize(i.size), i.locked ? 'lock' : 'resolved']);
  ctx.io.out(table(['REFERENCE', 'DIGEST', 'PLATFORMS', 'SIZE', 'FROM'], rows));
  if (!ctx.io.quiet) ctx.io.err(`Dry run: ${r.images.length} image${r.images.length === 1 ? '' : 's'}, ${humanSize(r.size)} (each shared blob once); nothing fetched or written`);
}

function noteLine(n: SetNote): string {
  switch (n.kind) {
    case 'tag-moved':
      return `note: ${familiarName(n.reference)} now points at ${short(n.now)}; the lock keeps ${short(n.locked)}, which is what is fetched`;
    case 'tag-gone':
      return `note: ${familiarName(n.reference)} is no longer in the registry; the lock keeps ${short(n.locked)}, which is what is fetched`;
    case 'platforms-missing':
      return `note: ${familiarName(n.reference)} has no ${n.missing.join(', ')}; taking ${n.taken.join(', ')}`;
    case 'manifest-problem':
      return `warning: ${n.message} (${n.line ? `${n.file}:${n.line}` : n.file})`;
    case 'lock-replaced': {
      const list = (what: string, refs: string[]) => (refs.length ? [`${refs.length} ${what} (${refs.slice(0, 5).map(familiarName).join(', ')}${refs.length > 5 ? ', ...' : ''})`] : []);
      return `note: ${n.path} replaced, resolved anew: ${[...list('changed', n.changed), ...list('added', n.added), ...list('removed', n.removed)].join(', ')}; --lock ${n.path} fetches what a lock pins`;
    }
  }
}
