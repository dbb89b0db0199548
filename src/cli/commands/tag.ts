import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { tagRoots } from '../../ops/rename.js';
import { addRenameOutputOptions, runRename } from '../rename-common.js';
import type { WriteFlags } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('tag')
    .summary('give an image of an archive more names, like docker tag')
    .argument('<source>', 'archive file or OCI layout directory')
    .argument('<src-ref>', 'the image: a name, an image ID prefix or a digest')
    .argument('<new-ref...>', 'new names');
  addRenameOutputOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  imgpack tag images.tar busybox:latest mybusybox:1 registry.local:5000/busybox:1
  imgpack tag images.tar 3b9aa7ded38d mybusybox:latest -o tagged.tar`)
    .action(async (spec: string, src: string, news: string[], flags: WriteFlags) => {
      await runRename(ctx, spec, flags, (source) => ({ roots: tagRoots(source, src, news) }));
    });
}
