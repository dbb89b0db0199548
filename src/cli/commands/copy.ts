import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { collect } from '../context.js';
import { invalid } from '../../errors.js';
import { RegistrySink } from '../../formats/registry/registry-sink.js';
import { copy } from '../../ops/copy.js';
import { selectRoots } from '../../ops/plan.js';
import { newName } from '../../ops/rename.js';
import { parseReference, repositoryOf } from '../../model/reference.js';
import { resolveOutput } from '../../ops/write.js';
import { platformOf, runWrite, withSources, type WriteFlags } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('copy')
    .summary('copy images between any two of: archives, OCI layouts, store:, docker://REF')
    .argument('<source>', 'archive, OCI layout, volume set, store:, docker://REF or -')
    .argument('<dest>', 'file, DIR/, store:, docker://REF or -')
    .option('--image <ref>', 'only these images (repeatable)', collect, [])
    .option('--platform <os/arch[/variant]>', 'only this platform of multi-platform images')
    .option('--json', 'print a JSON report')
    .addHelpText('after', `
To docker://REF, the (one) selected image is pushed under REF.

Examples:
  imgpack copy docker://quay.io/coreos/flannel:v0.10.0-amd64 flannel.tar
  imgpack copy bundle.tar --image nginx:1.25 docker://registry.local:5000/library/nginx:1.25`)
    .action(async (spec: string, dest: string, flags: WriteFlags) => {
      ctx.io.json = !!flags.json;
      await withSources([spec], async ([source]) => {
        const roots = selectRoots(source, { images: flags.image, platform: platformOf(flags) }).filter((r) => r.node.kind !== 'artifact');
        if (!dest.startsWith('docker://')) {
          await runWrite(ctx, { roots }, resolveOutput(dest, {}), [source], flags);
          return;
        }
        if (roots.length !== 1) throw invalid('ambiguous-image', `${source.display} holds ${roots.length} images; choose one with --image to push it under one name`, source.display);
        const target = newName(dest.slice('docker://'.length));
        const sink = new RegistrySink(repositoryOf(parseReference(target)));
        await copy({ roots: [{ ...roots[0], names: [target] }] }, sink, { layers: 'keep' });
        ctx.io.out(`Pushed: ${target} (${sink.pushed.length} blobs uploaded, ${sink.skipped} already there)`);
      }, ctx);
    });
}
