import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { collect } from '../context.js';
import { selectRoots } from '../../ops/plan.js';
import { resolveOutput } from '../../ops/write.js';
import { addReferrerOptions, platformOf, referrersOf, runWrite, withSources, type WriteFlags } from '../write-common.js';
import { addSetOptions, isSetRun, runSetCommand, setJson, setOutputOf, setPlatformsOf, type SetFlags } from '../set-common.js';
import { usage } from '../../errors.js';

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('copy')
    .summary('copy images between any two of: archives, OCI layouts, store:, docker://REF')
    .argument('<source>', 'archive, OCI layout, volume set, store:, docker://REF or - (with -f SET: omit it to fetch from the registries)')
    .argument('[dest]', 'file, DIR/, store:, docker://REF, docker://REGISTRY[/PREFIX]/ or -')
    .option('--image <ref>', 'only these images (repeatable)', collect, [])
    .option('--platform <os/arch[/variant]>', 'only this platform of multi-platform images')
    .option('--chunk-size <size>', 'to a registry: upload blobs bigger than this in chunks of this size')
    .option('--json', 'print a JSON report');
  addReferrerOptions(cmd);
  addSetOptions(cmd);
  cmd.addHelpText('after', `
To docker://REF, the (one) selected image is pushed under REF; to docker://REGISTRY[/PREFIX]/
(trailing slash), every selected image under its own path there.

Examples:
  imgpack copy docker://quay.io/coreos/flannel:v0.10.0-amd64 flannel.tar
  imgpack copy bundle.tar --image nginx:1.25 docker://registry.local:5000/library/nginx:1.25
  imgpack copy store: docker://registry.local:5000/mirror/
  imgpack copy -f cluster.yaml docker://registry.local:5000/mirror/   # a set, from its registries`)
    .action(async (spec: string, dest: string | undefined, flags: WriteFlags & SetFlags & { referrers?: boolean; referrersType?: string[] }) => {
      ctx.io.json = !!flags.json;
      if (isSetRun(flags)) {
        // Like copy without a set, every platform by default (a mirror keeps indexes whole).
        const target = dest ?? spec;
        const from = dest === undefined ? [] : [spec];
        if (from[0]?.startsWith('docker://')) throw usage('usage', 'with -f, the set names the registry images: give no docker:// source', spec);
        const out = resolveOutput(target, {});
        await withSources(from, ([source]) => runSetCommand(ctx, flags, { from: source, platforms: setPlatformsOf(flags) ?? 'all', verb: 'copying' }, ({ roots, sources, summary }) =>
          runWrite(ctx, { roots }, setOutputOf(out, summary.lock), sources, flags, { set: setJson(summary) })));
        return;
      }
      if (dest === undefined) throw usage('usage', 'copy needs a source and a destination');
      await withSources([spec], async ([source]) => {
        const roots = selectRoots(source, { images: flags.image, platform: platformOf(flags) }); // signatures and SBOMs follow their images
        await runWrite(ctx, { roots }, resolveOutput(dest, {}), [source], flags);
      }, ctx, { platform: platformOf(flags), referrers: referrersOf(flags) });
    });
}
