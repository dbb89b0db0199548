/** tag, untag and retag: write to -o, or rewrite the source in place, atomically. */
import { rename, rm } from 'node:fs/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import { usage } from '../errors.js';
import type { ArchiveSource } from '../formats/source.js';
import type { PlanRoot } from '../ops/plan.js';
import { formatKeeping, resolveOutput, type ResolvedOutput } from '../ops/write.js';
import { siblingTempName } from '../io/temp.js';
import type { CommandContext } from './context.js';
import { printJson } from './io.js';
import { isStoreSpec } from '../formats/store/store.js';
import { renameInStore } from '../ops/store-ops.js';
import { layersOption, runWrite, withSources, type WriteFlags } from './write-common.js';

export function addRenameOutputOptions(cmd: Command): Command {
  return cmd
    .option('-o, --output <path>', 'write the result here; without -o the source is rewritten in place, atomically')
    .addOption(new Option('--format <format>', 'output format (default: the source\'s)').choices(['hybrid', 'docker-archive', 'oci-archive', 'oci-layout']))
    .option('--compress <none|gzip>', 'wrap the output (default: as the source, or as -o implies)')
    .addOption(layersOption('keep'))
    .option('--json', 'print a JSON report')
    .option('--no-space-check', 'do not check the free space of the destination first');
}

/**
 * Runs a renaming plan. In place: the new archive is written beside the source under a
 * temporary name and renamed over it only when complete, so a crash or a full disk leaves the
 * old archive intact.
 */
export async function runRename(ctx: CommandContext, spec: string, flags: WriteFlags, plan: (source: ArchiveSource) => { roots: PlanRoot[]; extra?: Record<string, unknown> }): Promise<void> {
  ctx.io.json = !!flags.json;
  if (!flags.output && spec === '-') throw usage('usage', 'standard input cannot be rewritten in place: give -o');
  if (!flags.output && isStoreSpec(spec)) {
    // In the store a rename is an index.json update under the lock: no blob is copied.
    let extra: Record<string, unknown> | undefined;
    const index = await renameInStore((source) => {
      const p = plan(source);
      extra = p.extra;
      return p.roots;
    });
    if (flags.json) printJson(ctx.io, { output: spec, format: 'store', names: index.flatMap((d) => d.annotations?.['io.containerd.image.name'] ?? []), ...extra });
    else if (!ctx.io.quiet) ctx.io.err(`Updated the store's names (${index.length} ${index.length === 1 ? 'entry' : 'entries'})`);
    return;
  }
  await withSources([spec], async ([source]) => {
    const { roots, extra } = plan(source);
    if (flags.output) {
      await runWrite(ctx, { roots }, resolveOutput(flags.output, { format: flags.format ?? formatKeeping(source, flags.output), compress: flags.compress }), [source], flags, extra);
      return;
    }
    const format = (flags.format as ResolvedOutput['format']) ?? source.format;
    const compress = (flags.compress as ResolvedOutput['compress']) ?? (source.compression === 'gzip' ? 'gzip' : 'none');
    if (source.compression !== 'none' && source.compression !== 'gzip' && !flags.compress) {
      throw usage('unsupported', `the source is ${source.compression}-compressed, which imgpack cannot write; give -o or --compress none|gzip`, spec);
    }
    if (format === 'oci-layout') {
      const temp = siblingTempName(spec.replace(/\/+$/, ''));
      await runWrite(ctx, { roots }, { target: `${temp}/`, format, compress: 'none' }, [source], { ...flags, output: temp }, { ...extra, inPlace: spec });
      // A directory cannot be swapped in one rename: old aside, new in, old removed.
      const old = siblingTempName(spec.replace(/\/+$/, ''));
      await rename(spec, old);
      await rename(temp, spec.replace(/\/+$/, ''));
      await rm(old, { recursive: true, force: true });
      return;
    }
    await runWrite(ctx, { roots }, { target: spec, format, compress }, [], flags, { ...extra, inPlace: spec });
  });
}
