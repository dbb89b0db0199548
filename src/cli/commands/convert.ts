import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { selectRoots } from '../../ops/plan.js';
import { addOutputOptions, addTransferOptions, addSelectOptions, outputOf, platformOf, runWrite, withSources, type WriteFlags } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('convert')
    .summary('write an archive in another format (hybrid, docker-archive, oci-archive, oci-layout)')
    .argument('<source>', 'archive file, OCI layout directory, or -');
  addSelectOptions(cmd);
  addOutputOptions(cmd);
  addTransferOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  imgpack convert skopeo-oci/ -o images.tar                 # hybrid: every docker, podman, skopeo, containerd loads it
  imgpack convert images.tar --format docker-archive -o old-docker.tar
  imgpack convert images.tar --image nginx:1.25 -o nginx.tar
  imgpack convert multi.tar --platform linux/arm64 -o arm64.tar
  imgpack convert images.tar -o - | docker load`)
    .action(async (spec: string, flags: WriteFlags) => {
      ctx.io.json = !!flags.json;
      const out = outputOf(flags);
      await withSources([spec], async ([source]) => {
        const roots = selectRoots(source, { images: flags.image, platform: platformOf(flags) });
        await runWrite(ctx, { roots }, out, [source], flags);
      }, ctx);
    });
}
