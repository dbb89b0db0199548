import type { Command } from 'commander';
import type { LayerPolicy } from '../../ops/copy.js';
import type { CommandContext } from '../context.js';
import { collect } from '../context.js';
import { selectRoots } from '../../ops/plan.js';
import { pushPlan } from '../../ops/push.js';
import { parsePrefixRule } from '../../ops/rename.js';
import { estimateSize } from '../../ops/write.js';
import { printJson } from '../io.js';
import { progressFor } from '../progress.js';
import { layersOption, printPushed, pushOptionsOf, withSources, zstdLevelOf } from '../write-common.js';
import { ensureDeltaBlobs } from '../../ops/push-delta.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('push')
    .summary('push images of an archive or the store into a registry')
    .argument('<source>', 'archive, OCI layout, volume set or store:')
    .option('--image <ref>', 'only these images (repeatable)', collect, [])
    .option('--to <registry[/prefix]>', 'target registry, e.g. registry.local:5000 or registry.local:5000/mirror')
    .option('--replace-prefix <OLD=NEW>', 'rename as retag does (repeatable)', collect, [])
    .option('--chunk-size <size>', 'upload blobs bigger than this in chunks of this size (default: whole)')
    .option('--mount-from <repository>', 'for a delta: a repository of the same registry that holds the blobs it left out (repeatable)', collect, [])
    .addOption(layersOption('keep'))
    .option('--zstd-level <n>', 'zstd level for --layers zstd, 1-19 (default: 3)')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Blobs the registry has are not sent again (a rerun after an interruption sends only what is
missing); blobs pushed to another repository of the same registry are mounted; manifests go
after their blobs, tags last. TLS: --ca-file, /etc/docker/certs.d/HOST:PORT/ca.crt, --insecure.

Examples:
  imgpack push bundle.tar --to registry.local:5000          # docker.io/library/nginx:1.25 -> registry.local:5000/library/nginx:1.25
  imgpack push store: --image nginx:1.25 --replace-prefix docker.io/library/=registry.local:5000/base/`)
    .action(async (spec: string, flags: { image: string[]; to?: string; replacePrefix: string[]; chunkSize?: string; mountFrom: string[]; json?: boolean; layers: LayerPolicy; zstdLevel?: string }) => {
      ctx.io.json = !!flags.json;
      const rules = flags.replacePrefix.map(parsePrefixRule);
      await withSources([spec], async ([source]) => {
        const plan = { roots: selectRoots(source, { images: flags.image }) };
        const progress = progressFor(ctx, `pushing to ${flags.to ?? 'the registry'}`, estimateSize(plan));
        let report;
        try {
          report = await pushPlan(plan, { kind: 'prefix', to: flags.to, rules }, {
            ...pushOptionsOf(flags),
            layers: flags.layers,
            zstdLevel: zstdLevelOf(flags),
            onProgress: (e) => progress.update(e.bytes, e.current),
            onUnnamed: () => { if (!ctx.io.quiet) ctx.io.err('an image without a name is not pushed'); },
            // A delta pushes only when the registry already has (or can mount) what it left out.
            prepare: source.catalog.delta ? async (repos) => { await ensureDeltaBlobs(source, repos, flags.mountFrom); } : undefined,
          });
        } finally {
          progress.done();
        }
        if (flags.json) return printJson(ctx.io, { pushed: report.pushed });
        printPushed(ctx, report.pushed);
      }, ctx);
    });
}
