import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { usage } from '../../errors.js';
import { selectRoots } from '../../ops/plan.js';
import { addOutputOptions, addTransferOptions, outputOf, platformOf, runWrite, withSources, type WriteFlags } from '../write-common.js';
import { addSetOptions, isSetRun, runSetCommand, setJson, setOutputOf, setPlatformsOf, type SetFlags } from '../set-common.js';

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('save')
    .summary('write images of the local store to a load-ready archive, like docker save')
    .argument('[images...]', 'names, image ID prefixes or digests')
    .option('--all', 'every image of the store')
    .option('--platform <os/arch[/variant]>', 'only this platform of multi-platform images');
  addSetOptions(cmd);
  addOutputOptions(cmd);
  addTransferOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  imgpack save nginx:1.25 redis:7 -o /media/usb/bundle.tar
  imgpack save --all -o bundle.tar
  imgpack save nginx:1.25 -o - | docker load
  imgpack save -f cluster.yaml --lock cluster.lock -o /media/usb/bundle.tar   # the locked digests, from the store`)
    .action(async (images: string[], flags: WriteFlags & SetFlags & { all?: boolean }) => {
      ctx.io.json = !!flags.json;
      if (isSetRun(flags)) {
        if (flags.all) throw usage('usage', '--all and -f exclude each other');
        const out = outputOf(flags);
        // The set is resolved against the store: its names, its tags for tag filters.
        await withSources(['store:'], ([store]) => runSetCommand(ctx, flags, { from: store, platforms: setPlatformsOf(flags), references: images, verb: 'saving' }, ({ roots, summary }) =>
          runWrite(ctx, { roots }, setOutputOf(out, summary.lock), [store], flags, { set: setJson(summary) })));
        return;
      }
      if (!images.length && !flags.all) throw usage('usage', 'name the images to save, or give --all');
      const out = outputOf(flags);
      await withSources(['store:'], async ([store]) => {
        const roots = selectRoots(store, { images: flags.all ? undefined : images, platform: platformOf(flags) });
        await runWrite(ctx, { roots }, out, [store], flags);
      });
    });
}
