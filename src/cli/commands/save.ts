import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { usage } from '../../errors.js';
import { selectRoots } from '../../ops/plan.js';
import { addOutputOptions, addTransferOptions, outputOf, platformOf, runWrite, withSources, type WriteFlags } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('save')
    .summary('write images of the local store to a load-ready archive, like docker save')
    .argument('[images...]', 'names, image ID prefixes or digests')
    .option('--all', 'every image of the store')
    .option('--platform <os/arch[/variant]>', 'only this platform of multi-platform images');
  addOutputOptions(cmd);
  addTransferOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  imgpack save nginx:1.25 redis:7 -o /media/usb/bundle.tar
  imgpack save --all -o bundle.tar
  imgpack save nginx:1.25 -o - | docker load`)
    .action(async (images: string[], flags: WriteFlags & { all?: boolean }) => {
      ctx.io.json = !!flags.json;
      if (!images.length && !flags.all) throw usage('usage', 'name the images to save, or give --all');
      const out = outputOf(flags);
      await withSources(['store:'], async ([store]) => {
        const roots = selectRoots(store, { images: flags.all ? undefined : images, platform: platformOf(flags) });
        await runWrite(ctx, { roots }, out, [store], flags);
      });
    });
}
