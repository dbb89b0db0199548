import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { collect } from '../context.js';
import { selectRoots } from '../../ops/plan.js';
import { resolveOutput } from '../../ops/write.js';
import { platformOf, runWrite, withSources, type WriteFlags } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('copy')
    .summary('copy images between any two of: archives, OCI layouts, store:, docker://REF')
    .argument('<source>', 'archive, OCI layout, volume set, store:, docker://REF or -')
    .argument('<dest>', 'file, DIR/, store:, docker://REF, docker://REGISTRY[/PREFIX]/ or -')
    .option('--image <ref>', 'only these images (repeatable)', collect, [])
    .option('--platform <os/arch[/variant]>', 'only this platform of multi-platform images')
    .option('--chunk-size <size>', 'to a registry: upload blobs bigger than this in chunks of this size')
    .option('--json', 'print a JSON report')
    .addHelpText('after', `
To docker://REF, the (one) selected image is pushed under REF; to docker://REGISTRY[/PREFIX]/
(trailing slash), every selected image under its own path there.

Examples:
  imgpack copy docker://quay.io/coreos/flannel:v0.10.0-amd64 flannel.tar
  imgpack copy bundle.tar --image nginx:1.25 docker://registry.local:5000/library/nginx:1.25
  imgpack copy store: docker://registry.local:5000/mirror/`)
    .action(async (spec: string, dest: string, flags: WriteFlags) => {
      ctx.io.json = !!flags.json;
      await withSources([spec], async ([source]) => {
        const roots = selectRoots(source, { images: flags.image, platform: platformOf(flags) }).filter((r) => r.node.kind !== 'artifact');
        await runWrite(ctx, { roots }, resolveOutput(dest, {}), [source], flags);
      }, ctx, { platform: platformOf(flags) });
    });
}
