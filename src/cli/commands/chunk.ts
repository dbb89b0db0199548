import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { chunkFile, joinVolumes } from '../../ops/volumes-ops.js';
import { parseSize, sizeUnitOf } from '../../io/volumes.js';
import { count, humanSize, sizeIn } from '../format.js';
import { printJson } from '../io.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('chunk')
    .summary('split an archive into USB volumes FILE.001, FILE.002, ... with FILE.imgpack.json')
    .argument('<file>', 'the archive (any file)')
    .requiredOption('--volume-size <size>', 'at most this per volume: 3900M, 1G, fat32 (4294967295 bytes)...')
    .option('--json', 'print the transfer manifest')
    .addHelpText('after', `
Volumes are plain byte splits: \`cat FILE.0* > FILE\` rebuilds the archive too.

Examples:
  imgpack chunk bundle.tar --volume-size fat32`)
    .action(async (file: string, flags: { volumeSize: string; json?: boolean }) => {
      const manifest = await chunkFile(file, parseSize(flags.volumeSize));
      if (flags.json) return printJson(ctx.io, manifest);
      for (const v of manifest.volumes) ctx.io.out(`${v.name}  ${sizeIn(v.size, sizeUnitOf(flags.volumeSize))}  ${v.sha256}`);
      if (!ctx.io.quiet) ctx.io.err(`${file}: ${count(manifest.volumes.length, 'volume')} and ${file}.imgpack.json`);
    });

  program
    .command('join')
    .summary('reassemble volumes into one archive, checking every checksum')
    .argument('<first-volume>', 'FILE.001 or FILE.imgpack.json')
    .requiredOption('-o, --output <file>', 'the archive to write')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Every volume's sha256 is checked against FILE.imgpack.json, and the whole archive's at the end.

Examples:
  imgpack join /media/usb/bundle.tar.001 -o bundle.tar`)
    .action(async (spec: string, flags: { output: string; json?: boolean }) => {
      const r = await joinVolumes(spec, flags.output);
      if (flags.json) return printJson(ctx.io, { output: flags.output, ...r });
      if (!ctx.io.quiet) ctx.io.err(`Wrote ${flags.output}: ${count(r.volumes, 'volume')}, ${humanSize(r.size)}, ${r.sha256}`);
    });
}
