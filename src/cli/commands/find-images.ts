import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { findImages, type FindProblem } from '../../ops/find-images.js';
import { printJson } from '../io.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('find-images')
    .summary('list the images that Kubernetes manifests, Helm output, kustomizations and compose files name')
    .argument('<path...>', 'a manifest file, a directory (a kustomization, or searched for *.yaml/*.yml), or - for standard input')
    .option('--json', 'print { references: [{ reference, normalized, locations }], problems } as JSON')
    .addHelpText('after', `
Prints each reference once, as written, sorted. A kustomization's images: block is applied; compose
variables come from the environment and the .env beside the file (an unset one is reported and the
reference printed as written). Unrendered templates and documents that are not YAML are reported
with their file and line; the others are still read.

Exit status: 0 read, 1 a file or document could not be read or a reference is unusable, 2 usage.

Examples:
  imgpack find-images k8s/
  helm template my-release ./chart | imgpack find-images -
  imgpack find-images compose.yaml --json`)
    .action(async (paths: string[], opts: { json?: boolean }) => {
      ctx.io.json = !!opts.json;
      const result = await findImages(paths);
      const failed = result.problems.some((p) => p.severity !== 'warning');
      if (opts.json) {
        printJson(ctx.io, result);
      } else {
        for (const p of result.problems) {
          if (p.severity === 'warning' && ctx.io.quiet) continue;
          ctx.io.err(`imgpack: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message} (${where(p)})`);
        }
        if (result.references.length) ctx.io.out(result.references.map((r) => r.reference).join('\n'));
      }
      ctx.setExitCode(failed ? 1 : 0);
    });
}

function where(p: FindProblem): string {
  const file = p.file === '-' ? 'standard input' : p.file;
  return p.line !== undefined ? `${file}:${p.line}` : file;
}
