import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { pruneStore } from '../../ops/store-ops.js';
import { humanSize } from '../format.js';
import { printJson } from '../io.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('prune')
    .summary('remove the blobs of the local store that nothing references')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Blobs that a load running at the same time is about to use are kept.

Examples:
  imgpack rmi busybox:old && imgpack prune`)
    .action(async (flags: { json?: boolean }) => {
      const r = await pruneStore();
      if (flags.json) return printJson(ctx.io, r);
      ctx.io.out(`Deleted ${r.blobs} blob${r.blobs === 1 ? '' : 's'}\nTotal reclaimed space: ${humanSize(r.bytes)}`);
    });
}
