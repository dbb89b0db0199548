import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { collect } from '../context.js';
import { usage } from '../../errors.js';
import { applyDelta } from '../../ops/apply.js';
import { refuseOverwritingInput, resolveOutput } from '../../ops/write.js';
import { progressFor } from '../progress.js';
import { reportWrite, withSources } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('apply')
    .summary('rebuild the complete archive from a delta bundle and the blobs this side has')
    .argument('<delta>', 'the delta bundle (archive, volume set or OCI layout)')
    .option('--base <source>', 'where the left-out blobs are: store: (the default), archives, layouts (repeatable)', collect, [])
    .requiredOption('-o, --output <path>', 'the complete archive (DIR/ for an OCI layout)')
    .option('--format <format>', 'output format (default: the format of the delta)')
    .option('--json', 'print a JSON report')
    .option('--no-space-check', 'do not check the free space of the destination first')
    .addHelpText('after', `
The result holds the same manifests, configs and layers as the archive the delta was cut from:
the same image IDs and manifest digests.

Examples:
  imgpack apply app-2.delta.tar --base store: -o app-2.tar
  imgpack apply app-2.delta.tar --base app-1.tar -o app-2.tar && docker load -i app-2.tar`)
    .action(async (spec: string, flags: { base: string[]; output: string; format?: string; json?: boolean; spaceCheck?: boolean }) => {
      ctx.io.json = !!flags.json;
      const bases = flags.base.length ? flags.base : ['store:'];
      if (bases.includes(spec)) throw usage('usage', 'the delta cannot be its own base', spec);
      await withSources([spec, ...bases], async ([delta, ...base]) => {
        const writable = ['hybrid', 'docker-archive', 'oci-archive', 'oci-layout'];
        const out = resolveOutput(flags.output, { format: flags.format ?? (writable.includes(delta.format) && delta.format !== 'oci-layout' ? delta.format : undefined) });
        refuseOverwritingInput(out.target, [delta, ...base]);
        const progress = progressFor(ctx, `writing ${out.target}`, delta.catalog.blobs.reduce((n, b) => n + (b.size ?? 0), 0) + (delta.catalog.delta?.omitted ?? []).reduce((n, o) => n + o.size, 0));
        try {
          const report = await applyDelta(delta, base, out, { spaceCheck: flags.spaceCheck, onProgress: (e) => progress.update(e.bytes, e.current) });
          progress.done();
          reportWrite(ctx, report, out, { applied: spec, base: bases });
        } finally {
          progress.done();
        }
      }, ctx);
    });
}
