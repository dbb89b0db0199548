import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { repairVolumes } from '../../ops/repair.js';
import { printJson } from '../io.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('repair')
    .summary('rebuild missing or damaged volumes of a set from its parity volumes')
    .argument('<first-volume>', 'FILE.001 or FILE.imgpack.json')
    .option('--json', 'print { repaired, parityVolumes }')
    .addHelpText('after', `
Any N damaged or missing volumes (data or parity) of a set saved with --parity N are rebuilt
byte for byte; each is checked against the transfer manifest's sha256 before it replaces the old.

Examples:
  imgpack verify /media/usb/bundle.tar.001     # names the damage and whether it can be repaired
  imgpack repair /media/usb/bundle.tar.001`)
    .action(async (spec: string, flags: { json?: boolean }) => {
      const r = await repairVolumes(spec);
      if (flags.json) return printJson(ctx.io, r);
      if (r.repaired.length === 0) ctx.io.out(`${spec}: every volume is sound; nothing to repair`);
      else ctx.io.out(`Repaired: ${r.repaired.join(', ')}`);
    });
}
