import { Option, type Command } from 'commander';
import type { CommandContext } from '../context.js';
import { mergeRoots, selectRoots } from '../../ops/plan.js';
import { addOutputOptions, addTransferOptions, addSelectOptions, outputOf, platformOf, runWrite, withSources, type WriteFlags } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('merge')
    .summary('put the images of several archives into one, every blob once')
    .argument('<sources...>', 'archive files or OCI layout directories');
  addSelectOptions(cmd);
  addOutputOptions(cmd);
  addTransferOptions(cmd);
  cmd.addOption(new Option('--prefer <which>', 'when two sources give one name to different images, keep the first or the last').choices(['first', 'last']));
  cmd.addHelpText('after', `
Examples:
  imgpack merge nginx.tar redis.tar app.tar -o bundle.tar
  imgpack merge old.tar new.tar --prefer last -o bundle.tar`)
    .action(async (specs: string[], flags: WriteFlags & { prefer?: 'first' | 'last' }) => {
      ctx.io.json = !!flags.json;
      const out = outputOf(flags);
      await withSources(specs, async (sources) => {
        const groups = sources.map((s) => selectRoots(s, { images: flags.image, platform: platformOf(flags) }));
        const roots = mergeRoots(groups, flags.prefer);
        await runWrite(ctx, { roots }, out, sources, flags, { sources: specs });
      }, ctx);
    });
}
