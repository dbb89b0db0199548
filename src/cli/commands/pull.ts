import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { usage } from '../../errors.js';
import { mergeRoots, selectRoots } from '../../ops/plan.js';
import { loadIntoStore } from '../../ops/store-ops.js';
import { familiarName } from '../../model/reference.js';
import { hostPlatform } from '../../model/oci.js';
import { printJson } from '../io.js';
import { addOutputOptions, addReferrerOptions, outputOf, platformOf, referrersOf, runWrite, withSources, type WriteFlags } from '../write-common.js';
import { addSetOptions, isSetRun, runSetCommand, setJson, setOutputOf, setPlatformsOf, type SetFlags } from '../set-common.js';

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('pull')
    .summary('fetch images from a registry into the store or an archive, with no daemon')
    .argument('[refs...]', 'image references, e.g. quay.io/coreos/flannel:v0.10.0-amd64')
    .option('--platform <os/arch[/variant]>', 'this platform of multi-platform images (default: this host\'s, as docker pull)')
    .option('--all-platforms', 'keep multi-platform indexes whole');
  addReferrerOptions(cmd);
  addSetOptions(cmd, { retry: true });
  addOutputOptions(cmd, false);
  cmd.addHelpText('after', `
Every blob is checked against its digest while it downloads; several download at once; a
connection that breaks mid-blob is resumed. Blobs the local store has are not downloaded again.
TLS by default: --ca-file, /etc/docker/certs.d/HOST:PORT/ca.crt, --insecure; loopback
registries may be plain HTTP, as with docker; --plain-http for others.

Image sets (-f FILE): several images at once, a blob two images share downloaded once; a lock
(SET.lock, or --lock FILE) pins every digest; see docs/image-sets.md.

Examples:
  imgpack pull quay.io/coreos/flannel:v0.10.0-amd64 -o flannel.tar
  imgpack pull --all-platforms alpine:3.19 -o alpine-all.tar
  imgpack pull 127.0.0.1:5000/team/app:1            # into the local store
  imgpack pull -f cluster.yaml --lock cluster.lock -o bundle.tar
  imgpack pull -f cluster.yaml --keep-going --report failed.json; imgpack pull --retry failed.json`)
    .action(async (refs: string[], flags: WriteFlags & SetFlags & { referrers?: boolean; referrersType?: string[] }) => {
      ctx.io.json = !!flags.json;
      if (isSetRun(flags)) {
        const out = flags.output ? outputOf(flags) : undefined;
        await runSetCommand(ctx, flags, { platforms: setPlatformsOf(flags), references: refs, verb: 'pulling' }, async ({ sources, roots, summary }) => {
          if (out) return runWrite(ctx, { roots }, setOutputOf(out, summary.lock), sources, flags, { set: setJson(summary) });
          const results = await loadIntoStore(sources);
          const names = results.flatMap((r) => r.names);
          if (flags.json) printJson(ctx.io, { pulled: names, set: setJson(summary) });
          else for (const n of names) ctx.io.out(`Pulled: ${familiarName(n)}`);
        });
        return;
      }
      if (!refs.length) throw usage('usage', 'name the images to pull, or give -f SET');
      const platform = flags.allPlatforms ? undefined : platformOf(flags) ?? hostPlatform();
      await withSources(refs.map((r) => `docker://${r}`), async (sources) => {
        const roots = mergeRoots(sources.map((s) => selectRoots(s, { platform })));
        if (flags.output) {
          await runWrite(ctx, { roots }, outputOf(flags), sources, flags);
          return;
        }
        const results = await loadIntoStore(sources);
        for (const r of results) {
          for (const n of r.names) ctx.io.out(`Pulled: ${familiarName(n)}`);
          if (r.attached) ctx.io.out(`  with ${r.attached} attached (signatures, attestations, SBOMs, referrers)`);
        }
      }, ctx, { platform, referrers: referrersOf(flags) });
    });
}
