/**
 * Turning an output path and flags into a sink, and running a plan into it: the one way every
 * command writes an archive.
 */
import { realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { invalid, usage } from '../errors.js';
import { CodecPool } from '../io/workers.js';
import { DEFAULT_LEVEL, parallelCompressor } from '../io/parallel-compress.js';
import { checkFreeSpace, checkOutputDir, DirWriter, isDirectoryOutput, TarFileWriter, type VolumeInfo } from '../io/output.js';
import { parseSize, sizeUnitOf, writeFileManifest, type TransferManifest } from '../io/volumes.js';
import { DockerArchiveSink } from '../formats/sinks/docker-archive-sink.js';
import { LayoutSink } from '../formats/sinks/layout-sink.js';
import type { OutputFormat, Sink } from '../formats/sinks/sink.js';
import type { ArchiveSource } from '../formats/source.js';
import { isStoreSpec, Store, STORE_SPEC } from '../formats/store/store.js';
import { StoreSink } from '../formats/store/store-sink.js';
import { copy, type CopyOptions, type CopyReport } from './copy.js';
import { estimateSize, transferInfo, type Plan } from './plan.js';
import { OUTPUT_FORMATS, type OuterCompression, type OutputOptions, type ResolvedOutput } from './output-spec.js';

export { estimateSize, transferInfo, OUTPUT_FORMATS, type OuterCompression, type OutputOptions, type ResolvedOutput };
import { pushPlan, pushTargetOf, type PushedRepository } from './push.js';
import { writeLoadableVolumes } from './loadable-volumes.js';
import type { PushOptions } from '../formats/registry/registry-sink.js';

/** Defaults (CLI.md): hybrid for a file; oci-layout for an existing directory or a path ending in '/'. */
export function resolveOutput(target: string, opts: OutputOptions): ResolvedOutput {
  if (!target) throw usage('usage', 'an output is needed: -o FILE, -o DIR/, -o store: or -o -');
  if (isStoreSpec(target)) {
    if ((opts.format && opts.format !== 'store') || (opts.compress && opts.compress !== 'none')) throw usage('bad-format', 'the store is an OCI layout: --format and --compress do not apply', target);
    return { target, format: 'store', compress: 'none' };
  }
  if (target.startsWith('docker://')) {
    if (opts.format || (opts.compress && opts.compress !== 'none') || opts.volumeSize) throw usage('bad-format', 'a registry keeps images as it keeps them: --format, --compress and --volume-size do not apply', target);
    return { target, format: 'registry', compress: 'none' };
  }
  let isDir = target.endsWith('/');
  if (!isDir && target !== '-') {
    try {
      isDir = statSync(target).isDirectory();
    } catch {
      isDir = false;
    }
  }
  if (opts.format && !OUTPUT_FORMATS.includes(opts.format as OutputFormat)) {
    throw usage('bad-format', `unknown format "${opts.format}" (one of ${OUTPUT_FORMATS.join(', ')})`, opts.format);
  }
  const format = (opts.format as OutputFormat | undefined) ?? (isDir ? 'oci-layout' : 'hybrid');
  if (format === 'oci-layout' && target === '-') throw usage('bad-format', 'an oci-layout is a directory and cannot go to standard output', target);
  if (format !== 'oci-layout' && isDir) throw usage('bad-output', `${format} is a file, but the output is a directory`, target);
  const compress = (opts.compress ?? impliedCompression(target)) as OuterCompression;
  if (!['none', 'gzip', 'zstd'].includes(compress)) throw usage('bad-compress', `unknown compression "${opts.compress}" (none, gzip, zstd)`, opts.compress);
  if (compress !== 'none' && format === 'oci-layout') throw usage('bad-compress', 'a directory cannot be compressed', target);
  if (opts.parity !== undefined && opts.volumeSize === undefined) throw usage('usage', '--parity adds parity volumes to a volume set: give --volume-size too', opts.parity);
  if (opts.loadableVolumes && opts.volumeSize === undefined) throw usage('usage', '--loadable-volumes needs --volume-size', target);
  if (opts.volumeSize !== undefined) {
    if (format === 'oci-layout' || target === '-') throw usage('usage', 'volumes are files: --volume-size needs -o FILE and a tar format', target);
    const parity = opts.parity === undefined ? undefined : Number(opts.parity);
    if (parity !== undefined && !(Number.isInteger(parity) && parity >= 1 && parity <= 99)) throw usage('usage', '--parity is a number of parity volumes, 1 to 99', opts.parity);
    if (opts.loadableVolumes && parity) throw usage('usage', '--parity protects a byte split: it does not go with --loadable-volumes', target);
    return { target, format, compress, volumeSize: parseSize(opts.volumeSize), volumeUnit: sizeUnitOf(opts.volumeSize), ...(parity ? { parity } : {}), ...(opts.loadableVolumes ? { loadable: true } : {}) };
  }
  if (opts.transferManifest) {
    if (format === 'oci-layout' || target === '-') throw usage('usage', 'a transfer manifest describes files: this needs -o FILE and a tar format', target);
    return { target, format, compress, transferManifest: true };
  }
  return { target, format, compress };
}

/**
 * tag / untag / retag -o keep the source's format (issue 13 item 8): a docker-archive stays a
 * docker-archive, an OCI layout becomes an oci-archive in a file; a directory output is a layout.
 */
export function formatKeeping(source: ArchiveSource, target: string): OutputFormat | undefined {
  // Standard output mostly feeds `docker load`, which reads neither an OCI archive (docker 20.10)
  // nor one without its names in manifest.json: it gets the default hybrid, which every reader takes.
  if (target === '-' || isStoreSpec(target) || isDirectoryOutput(target)) return undefined;
  if (source.format === 'docker-archive' || source.format === 'hybrid' || source.format === 'oci-archive') return source.format;
  if (source.format === 'oci-layout') return 'oci-archive';
  return undefined;
}

/**
 * The compression an output's name says (issue 13 item 7: a name never lies): .gz and .tgz gzip
 * (docker's classic `docker save -o images.gz` example: docker load reads it), .zst zstd; .xz,
 * .bz2 and the like name a compression imgpack cannot write, so they are refused rather than
 * given a plain tar. --compress overrides, and then the name is taken as given.
 */
export function impliedCompression(target: string): OuterCompression {
  if (/\.(gz|tgz)$/i.test(target)) return 'gzip';
  if (/\.(zst|tzst)$/i.test(target)) return 'zstd';
  const other = /\.(xz|txz|bz2|tbz2?|lz4|lzma|z)$/i.exec(target);
  if (other) throw usage('bad-compress', `imgpack cannot write .${other[1]} compression: name the output .tar, .tar.gz (or .tgz, .gz) or .tar.zst, or give --compress none|gzip|zstd`, target);
  return 'none';
}

/** An output path that is one of the inputs would destroy the input while it is read. */
export function refuseOverwritingInput(target: string, sources: ArchiveSource[]): void {
  if (target === '-') return;
  if (isStoreSpec(target)) {
    if (sources.some((s) => s.display === STORE_SPEC)) throw usage('output-is-input', 'the store is both the source and the output', target);
    return;
  }
  let real: string;
  try {
    real = realpathSync(target.replace(/\/+$/, ''));
  } catch {
    return; // does not exist yet
  }
  for (const s of sources) {
    if (s.display === '-') continue;
    try {
      if (realpathSync(s.display) === real) throw usage('output-is-input', 'the output is one of the inputs; write elsewhere (or use the in-place form of tag/untag/retag)', target);
    } catch (e) {
      if ((e as { code?: string }).code === 'output-is-input') throw e;
    }
  }
}

/**
 * The sink of an output. An outer gzip or zstd is compressed by `codec.pool`'s workers (the copy's
 * own, by default: one started here for that alone), at `codec.zstdLevel` for zstd.
 */
export function createSink(out: ResolvedOutput, plan?: Plan, info: VolumeInfo = transferInfo(out, plan), codec: { pool?: CodecPool; zstdLevel?: number } = {}): { sink: Sink; writer?: TarFileWriter } {
  if (out.format === 'registry') throw new Error('a registry output is written by pushPlan');
  if (out.format === 'store') return { sink: new StoreSink(Store.open()) };
  if (out.format === 'oci-layout') return { sink: new LayoutSink('oci-layout', new DirWriter(out.target)) };
  const outer = out.compress;
  const wrap = outer === 'none' ? undefined : () => parallelCompressor({ codec: outer, level: outer === 'zstd' ? codec.zstdLevel ?? DEFAULT_LEVEL.zstd : DEFAULT_LEVEL.gzip, pool: codec.pool ?? CodecPool.inline() });
  const volumes = out.volumeSize ? { size: out.volumeSize, parity: out.parity ?? 0, info } : undefined;
  const writer = new TarFileWriter(out.target, wrap, volumes);
  const sink = out.format === 'docker-archive' ? new DockerArchiveSink(writer) : new LayoutSink(out.format, writer);
  return { sink, writer };
}

export async function writePlan(plan: Plan, out: ResolvedOutput, opts: CopyOptions & { spaceCheck?: boolean; push?: PushOptions }): Promise<CopyReport & { transfer?: TransferManifest; pushed?: PushedRepository[] }> {
  if (opts.exclude && (out.format === 'store' || out.format === 'registry')) throw usage('usage', '--exclude-from cuts a delta bundle: write it to a file or a directory, not the store or a registry', out.target);
  const hasImages = plan.roots.some((r) => r.node.kind !== 'artifact');
  if (!hasImages && (out.format === 'docker-archive' || plan.roots.length === 0)) {
    throw invalid('no-images', plan.roots.length ? 'the selection holds only artifacts, which a docker-archive cannot hold' : 'nothing to write: no image was selected', out.target);
  }
  if (out.format === 'registry') return pushPlan(plan, pushTargetOf(out.target), { onProgress: opts.onProgress, ...opts.push });
  if (out.loadable) {
    if (opts.exclude) throw usage('usage', '--exclude-from does not go with --loadable-volumes (a delta is not loadable alone)', out.target);
    return writeLoadableVolumes(plan, out, opts, writeOneOutput);
  }
  return writeOneOutput(plan, out, opts);
}

/** One file, directory or the store, written by the copy engine (a volume set counts as one file). */
async function writeOneOutput(plan: Plan, out: ResolvedOutput, opts: CopyOptions & { spaceCheck?: boolean }): Promise<CopyReport & { transfer?: TransferManifest }> {
  if (out.format === 'oci-layout') await checkOutputDir(out.target);
  const where = out.format === 'store' ? Store.open().root + '/' : resolve(out.target);
  if (opts.spaceCheck !== false) await checkFreeSpace(where, estimateSize(plan));
  // The transfer manifest pins every blob (and a delta's left-out ones); the engine reports them
  // as it goes, and the manifest is written when the volumes are complete.
  const info = transferInfo(out, plan);
  info.blobs = [];
  if (opts.exclude) info.delta = { inventory: opts.exclude.inventory, match: opts.exclude.match, omitted: [] };
  const onBlob: CopyOptions['onBlob'] = (b) => {
    (b.omitted ? info.delta!.omitted : info.blobs!).push({ digest: b.digest, size: b.size });
    opts.onBlob?.(b);
  };
  // One set of codec workers for the copy's checks, its layer compression and the outer wrapper.
  const size = estimateSize(plan);
  const pool = opts.pool ?? (out.compress !== 'none' && size >= 4 << 20 ? CodecPool.forCompression() : CodecPool.forWork(size));
  try {
    const { sink, writer } = createSink(out, plan, info, { pool, zstdLevel: opts.zstdLevel });
    const report = await copy(plan, sink, { ...opts, onBlob, pool });
    if (writer?.transferManifest) return { ...report, transfer: writer.transferManifest };
    if (out.transferManifest) return { ...report, transfer: writeFileManifest(out.target, info) };
    return report;
  } finally {
    if (!opts.pool) await pool.close();
  }
}
