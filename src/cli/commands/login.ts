import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { usage } from '../../errors.js';
import { RegistryClient } from '../../formats/registry/client.js';
import { removeCredentials, saveCredentials } from '../../formats/registry/credentials.js';
import { parseReference } from '../../model/reference.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('login')
    .summary("log in to a registry; writes docker's config.json as docker login does")
    .argument('<registry>', 'e.g. registry.local:5000, quay.io, docker.io')
    .requiredOption('-u, --username <user>', 'user name')
    .option('--password-stdin', 'read the password from standard input')
    .option('-p, --password <password>', 'the password (visible in the process list: prefer --password-stdin)')
    .addHelpText('after', `
Examples:
  echo "$TOKEN" | imgpack login registry.local:5000 -u ci --password-stdin`)
    .action(async (registry: string, flags: { username: string; passwordStdin?: boolean; password?: string }) => {
      const password = flags.passwordStdin ? await readStdin() : flags.password;
      if (!password) throw usage('usage', 'give --password-stdin (or -p)');
      const credentials = Buffer.from(`${flags.username}:${password}`).toString('base64');
      await new RegistryClient(parseReference(`${registry}/library/x`), { credentials: { basic: credentials } }).ping(); // refused: nothing is saved
      const path = saveCredentials(registry, flags.username, password);
      ctx.io.out(`Login Succeeded (credentials in ${path})`);
    });

  program
    .command('logout')
    .summary("remove a registry's credentials from docker's config.json")
    .argument('<registry>')
    .action(async (registry: string) => {
      ctx.io.out(removeCredentials(registry) ? `Removing login credentials for ${registry}` : `Not logged in to ${registry}`);
    });
}
