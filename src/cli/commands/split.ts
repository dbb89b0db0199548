import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { selectRoots, type PlanRoot } from '../../ops/plan.js';
import { resolveOutput, writePlan, refuseOverwritingInput } from '../../ops/write.js';
import { familiarName } from '../../model/reference.js';
import { shortId } from '../../model/digest.js';
import { fromSystemError } from '../../errors.js';
import { humanSize } from '../format.js';
import { printJson } from '../io.js';
import { addSelectOptions, layersOption, platformOf, withSources, zstdLevelOf, type WriteFlags } from '../write-common.js';
import { Option } from 'commander';

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('split')
    .summary('write one archive per image (with all its names) into a directory')
    .argument('<source>', 'archive file, OCI layout directory, or -')
    .requiredOption('-o, --output <dir>', 'directory for the archives (created if needed)')
    .addOption(new Option('--format <format>', 'format of each archive').choices(['hybrid', 'docker-archive', 'oci-archive', 'oci-layout']).default('hybrid'))
    .option('--compress <none|gzip>', 'wrap each archive')
    .addOption(layersOption())
    .option('--json', 'print a JSON report');
  addSelectOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  imgpack split bundle.tar -o images/      # images/nginx_1.25.tar, images/redis_7.tar, ...`)
    .action(async (spec: string, flags: WriteFlags) => {
      ctx.io.json = !!flags.json;
      const dir = flags.output!;
      try {
        await mkdir(dir, { recursive: true });
      } catch (e) {
        throw fromSystemError(e, dir);
      }
      await withSources([spec], async ([source]) => {
        const all = selectRoots(source, { images: flags.image, platform: platformOf(flags) });
        const roots = all.filter((r) => r.node.kind !== 'artifact');
        const used = new Set<string>();
        const written: { file: string; names: string[]; images: number; bytes: number }[] = [];
        for (const root of roots) {
          const ext = flags.format === 'oci-layout' ? '' : flags.compress === 'gzip' ? '.tar.gz' : '.tar';
          const file = join(dir, uniqueName(fileBase(root), used) + ext) + (flags.format === 'oci-layout' ? '/' : '');
          const out = resolveOutput(file, { format: flags.format, compress: flags.compress });
          refuseOverwritingInput(file, [source]);
          const artifacts = artifactsFor(source.catalog, root, all);
          const report = await writePlan({ roots: [root, ...artifacts] }, out, { layers: flags.layers, zstdLevel: zstdLevelOf(flags), platform: platformOf(flags) });
          written.push({ file, names: root.names, images: report.images, bytes: report.bytesWritten });
          if (!ctx.io.quiet && !flags.json) ctx.io.err(`Wrote ${file}: ${root.names.map(familiarName).join(', ') || '(unnamed)'}, ${humanSize(report.bytesWritten)}`);
        }
        if (flags.json) printJson(ctx.io, { output: dir, format: flags.format, archives: written });
      });
    });
}

/** File names from the first name, safe on any file system (FAT32, NTFS, ext4); else the short ID. */
export function fileBase(root: PlanRoot): string {
  const first = root.names[0];
  if (first) {
    return familiarName(first).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 120) || 'image';
  }
  const n = root.node;
  return n.kind === 'manifest' ? shortId(n.image.id) : n.kind === 'index' ? shortId(n.index.digest) : shortId(n.descriptor.digest);
}

function uniqueName(base: string, used: Set<string>): string {
  let name = base;
  for (let i = 2; used.has(name.toLowerCase()); i++) name = `${base}-${i}`;
  used.add(name.toLowerCase());
  return name;
}

/** Referrers (signatures, SBOMs) at the top level travel with the image they refer to. */
function artifactsFor(catalog: import('../../model/catalog.js').Catalog, root: PlanRoot, all: PlanRoot[]): PlanRoot[] {
  const n = root.node;
  const digests = new Set(n.kind === 'manifest' ? [n.manifest.digest] : n.kind === 'index' ? [n.index.digest, ...n.images.flatMap((i) => i.manifests.map((m) => m.digest))] : []);
  return all.filter((r) => r.node.kind === 'artifact' && catalog.artifacts.some((a) => a.digest === (r.node as { descriptor: { digest: string } }).descriptor.digest && a.refersTo && digests.has(a.refersTo)));
}
