import type { Command } from 'commander';
import { verifyPath } from '../../ops/verify.js';
import { humanSize } from '../format.js';
import { printJson } from '../io.js';
import { progressFor, type Progress } from '../progress.js';
import type { CommandContext } from '../context.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('verify')
    .summary('check every digest, size, diffID and structure of an archive')
    .argument('<source>', 'archive file, OCI layout directory, or - for standard input')
    .option('--json', 'print { ok, problems, warnings } as JSON')
    .addHelpText('after', `
Exit status: 0 sound, 1 problems found (or not an image archive), 2 cannot be read.

Examples:
  imgpack verify images.tar && docker load -i images.tar
  imgpack verify ./oci-layout --json`)
    .action(async (spec: string, opts: { json?: boolean }) => {
      ctx.io.json = !!opts.json;
      let progress: Progress | undefined;
      const report = await verifyPath(spec, {
        onProgress: (e) => {
          progress ??= progressFor(ctx, `verifying ${spec}`, e.total);
          progress.update(e.bytes, e.member);
        },
      }).finally(() => progress?.done());
      if (opts.json) {
        printJson(ctx.io, report);
      } else {
        for (const p of report.problems) ctx.io.err(`problem: ${p.message} (${p.subject})`);
        if (!ctx.io.quiet) for (const w of report.warnings) ctx.io.err(`warning: ${w.message} (${w.subject})`);
        if (report.ok) {
          ctx.io.out(`${report.source}${report.source.endsWith(":") ? "" : ":"} OK (${report.format}, ${report.images} image${report.images === 1 ? '' : 's'}, ${report.blobsChecked} blobs, ${humanSize(report.bytesChecked)} checked)`);
        } else {
          ctx.io.out(`${report.source}: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} found`);
        }
      }
      ctx.setExitCode(report.ok ? 0 : 1);
    });
}
