import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { generateKey } from '../../ops/signing.js';
import { printJson } from '../io.js';

export function register(program: Command, ctx: CommandContext): void {
  const key = program.command('key').summary('Ed25519 keys to sign and check transfer manifests');
  key
    .command('generate')
    .summary('make a key pair: KEY (private, mode 0600) and KEY.pub')
    .requiredOption('-o, --output <key>', 'the private key file; the public key goes to KEY.pub')
    .option('--json', 'print { privateKey, publicKey, keyId }')
    .addHelpText('after', `
Keep KEY on the connected side; carry KEY.pub to the air-gapped side once, by a trusted path.

Examples:
  imgpack key generate -o ~/.imgpack/release.key
  imgpack save app:2 -o /media/usb/app.tar --volume-size fat32 --sign ~/.imgpack/release.key
  imgpack load -i /media/usb/app.tar.001 --trust release.key.pub`)
    .action((flags: { output: string; json?: boolean }) => {
      const k = generateKey(flags.output);
      if (flags.json) return printJson(ctx.io, k);
      ctx.io.out(`${k.keyId}  ${k.publicKey}`);
      if (!ctx.io.quiet) ctx.io.err(`Wrote ${k.privateKey} (private, mode 0600) and ${k.publicKey}`);
    });
}
