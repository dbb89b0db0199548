import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { usage } from '../../errors.js';
import { currentStorePath } from '../../formats/store/store.js';
import { startServe } from '../../serve/server.js';
import { untilStopped } from '../signals.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('serve')
    .summary('serve the local store as a registry (OCI distribution API) that docker, podman, skopeo and containerd pull from')
    .option('--listen <host:port>', 'address to listen on; port 0 picks a free one', '127.0.0.1:5000')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; with --tls-key)')
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--read-only', 'refuse pushes (405 UNSUPPORTED)')
    .option('--log', 'print one line per request on stderr')
    .addHelpText('after', `
Repository names read as docker references: /v2/nginx/... and /v2/library/nginx/... serve
docker.io/library/nginx, /v2/quay.io/coreos/flannel/... serves quay.io/coreos/flannel; a mirror
request with ?ns=quay.io (containerd) serves quay.io/<path>. Stops on SIGINT, SIGTERM or SIGHUP
(exit 0).

Examples:
  imgpack serve                                   # http://127.0.0.1:5000, pull and push
  imgpack serve --listen 0.0.0.0:5000 --read-only --tls-cert reg.crt --tls-key reg.key
  docker pull 127.0.0.1:5000/nginx:1.25`)
    .action(async (flags: { listen: string; tlsCert?: string; tlsKey?: string; readOnly?: boolean; log?: boolean }) => {
      if (!!flags.tlsCert !== !!flags.tlsKey) throw usage('usage', '--tls-cert and --tls-key go together');
      const root = currentStorePath();
      const server = await startServe({
        store: root,
        listen: flags.listen,
        tls: flags.tlsCert && flags.tlsKey ? { cert: flags.tlsCert, key: flags.tlsKey } : undefined,
        readOnly: flags.readOnly,
        log: flags.log ? (line) => ctx.io.err(line) : undefined,
      });
      if (!ctx.io.quiet) ctx.io.err(`Serving store ${root} on ${server.url}${flags.readOnly ? ' (read-only)' : ''}`);
      // Stopping is serve's normal end: it closes, says so and exits 0.
      const signal = await untilStopped();
      await server.close();
      if (!ctx.io.quiet) ctx.io.err(`Stopped (${signal})`);
    });
}
