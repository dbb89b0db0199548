import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { fromSystemError } from '../../errors.js';
import { writeFileAtomically } from '../../io/atomic.js';
import { buildInventory, inventoryOfSource, serializeInventory, type InventoryPart } from '../../ops/inventory.js';
import { inventoryOfRegistry } from '../../ops/inventory-registry.js';
import { withSources } from '../write-common.js';
import { count } from '../format.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('inventory')
    .summary('list the blobs, diffIDs and chain IDs this side already has, for delta bundles')
    .argument('[sources...]', 'store: (the default), archives, OCI layouts, docker://HOST[/REPO[:TAG]]')
    .option('-o, --output <file>', 'write the inventory here (default: standard output)')
    .addHelpText('after', `
On the air-gapped side, list what is there; carry the file back; cut a delta against it:
  imgpack inventory -o have.json                          # the local store
  docker save $(docker images -q) | imgpack inventory - -o have.json   # a docker engine's images
  imgpack inventory docker://registry.local:5000 -o have.json          # every repository of a registry
  imgpack save app:2 --exclude-from have.json -o app-2.delta.tar`)
    .action(async (specs: string[], flags: { output?: string }) => {
      const all = specs.length ? specs : ['store:'];
      const parts: InventoryPart[] = [];
      const local = all.filter((s) => !s.startsWith('docker://'));
      await withSources(local, async (sources) => {
        for (const s of sources) parts.push(inventoryOfSource(s));
      }, ctx);
      for (const s of all.filter((x) => x.startsWith('docker://'))) parts.push(await inventoryOfRegistry(s));
      // Sources in the order given, whatever their kind.
      parts.sort((a, b) => all.indexOf(a.spec) - all.indexOf(b.spec));
      const inv = buildInventory(parts);
      const bytes = serializeInventory(inv);
      if (!flags.output || flags.output === '-') {
        ctx.io.out(bytes.toString('utf8'));
        return;
      }
      try {
        writeFileAtomically(flags.output, bytes);
      } catch (e) {
        throw fromSystemError(e, flags.output);
      }
      if (!ctx.io.quiet) ctx.io.err(`Wrote ${flags.output}: ${count(inv.images.length, 'image')}, ${count(inv.blobs.length, 'blob')}, ${count(inv.chainIds.length, 'chain ID')}`);
    });
}
