import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { untagRoots } from '../../ops/rename.js';
import { shortId } from '../../model/digest.js';
import { addRenameOutputOptions, runRename } from '../rename-common.js';
import type { WriteFlags } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('untag')
    .summary('remove names from an archive; images left without a name stay, unnamed')
    .argument('<source>', 'archive file or OCI layout directory')
    .argument('<ref...>', 'names to remove');
  addRenameOutputOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  imgpack untag images.tar busybox:old`)
    .action(async (spec: string, refs: string[], flags: WriteFlags) => {
      await runRename(ctx, spec, flags, (source) => {
        const { roots, unnamed } = untagRoots(source, refs);
        if (!ctx.io.quiet && !flags.json) for (const id of unnamed) ctx.io.err(`${shortId(id)} has no name left; it stays in the archive, unnamed`);
        return { roots, extra: { unnamed } };
      });
    });
}
