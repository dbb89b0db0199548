/**
 * Turning an output path and flags into a sink, and running a plan into it: the one way every
 * command writes an archive.
 */
import { realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createGzip } from 'node:zlib';
import { invalid, usage } from '../errors.js';
import { checkFreeSpace, checkOutputDir, DirWriter, TarFileWriter } from '../io/output.js';
import { DockerArchiveSink } from '../formats/sinks/docker-archive-sink.js';
import { LayoutSink } from '../formats/sinks/layout-sink.js';
import type { OutputFormat, Sink } from '../formats/sinks/sink.js';
import type { ArchiveSource } from '../formats/source.js';
import { isStoreSpec, Store, STORE_SPEC } from '../formats/store/store.js';
import { StoreSink } from '../formats/store/store-sink.js';
import { copy, type CopyOptions, type CopyReport } from './copy.js';
import type { Plan } from './plan.js';

export const OUTPUT_FORMATS: OutputFormat[] = ['hybrid', 'docker-archive', 'oci-archive', 'oci-layout'];
export type OuterCompression = 'none' | 'gzip' | 'zstd';

export interface OutputOptions {
  format?: string;
  compress?: string;
}

export interface ResolvedOutput {
  target: string;
  format: OutputFormat;
  compress: OuterCompression;
}

/** Defaults (CLI.md): hybrid for a file; oci-layout for an existing directory or a path ending in '/'. */
export function resolveOutput(target: string, opts: OutputOptions): ResolvedOutput {
  if (!target) throw usage('usage', 'an output is needed: -o FILE, -o DIR/, -o store: or -o -');
  if (isStoreSpec(target)) {
    if ((opts.format && opts.format !== 'store') || (opts.compress && opts.compress !== 'none')) throw usage('bad-format', 'the store is an OCI layout: --format and --compress do not apply', target);
    return { target, format: 'store', compress: 'none' };
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
  const implied = /\.(tar\.gz|tgz)$/.test(target) ? 'gzip' : /\.tar\.zst$/.test(target) ? 'zstd' : 'none';
  const compress = (opts.compress ?? implied) as OuterCompression;
  if (!['none', 'gzip', 'zstd'].includes(compress)) throw usage('bad-compress', `unknown compression "${opts.compress}" (none, gzip)`, opts.compress);
  if (compress === 'zstd') throw usage('unsupported', 'zstd output is not supported: no pure-JavaScript zstd encoder is bundled; use --compress gzip or none', target);
  if (compress !== 'none' && format === 'oci-layout') throw usage('bad-compress', 'a directory cannot be compressed', target);
  return { target, format, compress };
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

export function createSink(out: ResolvedOutput): Sink {
  if (out.format === 'store') return new StoreSink(Store.open());
  const writer = out.format === 'oci-layout'
    ? new DirWriter(out.target)
    : new TarFileWriter(out.target, out.compress === 'gzip' ? () => createGzip({ level: 6 }) : undefined);
  return out.format === 'docker-archive' ? new DockerArchiveSink(writer) : new LayoutSink(out.format as 'hybrid' | 'oci-archive' | 'oci-layout', writer);
}

/** An upper bound of what the plan writes: every distinct blob once. */
export function estimateSize(plan: Plan): number {
  const seen = new Map<string, number>();
  for (const r of plan.roots) {
    const add = (d: string, n: number) => seen.set(d, n);
    const n = r.node;
    const images = n.kind === 'manifest' ? [n.image] : n.kind === 'index' ? n.images : [];
    for (const img of images) {
      add(img.id, img.config.raw.length);
      for (const m of img.manifests) for (const l of m.layers) add(l.descriptor.digest, l.descriptor.size);
    }
  }
  return [...seen.values()].reduce((a, b) => a + b, 0) + 1024 * 1024;
}

export async function writePlan(plan: Plan, out: ResolvedOutput, opts: CopyOptions & { spaceCheck?: boolean }): Promise<CopyReport> {
  const hasImages = plan.roots.some((r) => r.node.kind !== 'artifact');
  if (!hasImages && (out.format === 'docker-archive' || plan.roots.length === 0)) {
    throw invalid('no-images', plan.roots.length ? 'the selection holds only artifacts, which a docker-archive cannot hold' : 'nothing to write: no image was selected', out.target);
  }
  if (out.format === 'oci-layout') await checkOutputDir(out.target);
  const where = out.format === 'store' ? Store.open().root + '/' : resolve(out.target);
  if (opts.spaceCheck !== false) await checkFreeSpace(where, estimateSize(plan));
  return copy(plan, createSink(out), opts);
}
