import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { parsePrefixRule, retagRoots } from '../../ops/rename.js';
import { familiarName } from '../../model/reference.js';
import { collect } from '../context.js';
import { addRenameOutputOptions, runRename } from '../rename-common.js';
import type { WriteFlags } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('retag')
    .summary('rename in bulk for a mirror or private registry')
    .argument('<source>', 'archive file or OCI layout directory')
    .requiredOption('--replace-prefix <OLD=NEW>', 'replace a prefix of full references (repeatable; first match wins)', collect, []);
  addRenameOutputOptions(cmd);
  cmd.addHelpText('after', `
Full references are matched, so name the registry: busybox is docker.io/library/busybox:latest.

Examples:
  imgpack retag images.tar --replace-prefix docker.io/library/=registry.local:5000/library/ -o mirror.tar
  imgpack retag images.tar --replace-prefix quay.io/=registry.local:5000/ --replace-prefix docker.io/=registry.local:5000/`)
    .action(async (spec: string, flags: WriteFlags & { replacePrefix: string[] }) => {
      const rules = flags.replacePrefix.map(parsePrefixRule);
      await runRename(ctx, spec, flags, (source) => {
        const { roots, renamed } = retagRoots(source, rules);
        if (!ctx.io.quiet && !flags.json) {
          for (const r of renamed) ctx.io.err(`${familiarName(r.from)} -> ${familiarName(r.to)}`);
        }
        return { roots, extra: { renamed } };
      });
    });
}
