import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { removeImages } from '../../ops/store-ops.js';
import { familiarName } from '../../model/reference.js';
import { printJson } from '../io.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('rmi')
    .summary('remove names (and images left without one) from the local store, like docker rmi')
    .argument('<ref...>', 'names, image ID prefixes or digests')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Blobs stay until \`imgpack prune\`.

Examples:
  imgpack rmi busybox:old
  imgpack rmi 3b9aa7ded38d`)
    .action(async (refs: string[], flags: { json?: boolean }) => {
      const r = await removeImages(refs);
      if (flags.json) return printJson(ctx.io, r);
      for (const n of r.untagged) ctx.io.out(`Untagged: ${familiarName(n)}`);
      for (const id of r.deleted) ctx.io.out(`Deleted: ${id}`);
    });
}
