import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { collect } from '../context.js';
import { loadIntoStore } from '../../ops/store-ops.js';
import { familiarName } from '../../model/reference.js';
import { count, humanSize } from '../format.js';
import { printJson } from '../io.js';
import { progressFor, type Progress } from '../progress.js';
import { withSources } from '../write-common.js';
import { readCosignKey, requireSigned } from '../../ops/cosign-verify.js';
import { checkTrust } from '../../ops/signing.js';
import { expandLoadableSets } from '../../io/volumes.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('load')
    .summary('add the images of archives to the local store (verified first), like docker load')
    .option('-i, --input <file>', 'archive, volume set (FILE.001 or FILE.imgpack.json) or OCI layout; repeatable; default: standard input', collect, [])
    .option('--json', 'print a JSON report')
    .option('--trust <key.pub>', 'refuse any input whose transfer manifest is not signed by this key (checked before anything is read)')
    .option('--require-signed <cosign.pub>', 'refuse the whole input, adding nothing, unless every image carries a cosign signature that verifies with this key (repeatable: any of them)', collect, [])
    .addHelpText('after', `
Every input is verified completely before anything is added: a corrupt input adds nothing.

Examples:
  imgpack load -i images.tar
  imgpack load -i /media/usb/bundle.tar.001
  imgpack load -i bundle.tar --require-signed cosign.pub
  docker save busybox | imgpack load`)
    .action(async (flags: { input: string[]; json?: boolean; trust?: string; requireSigned: string[] }) => {
      ctx.io.json = !!flags.json;
      let specs = flags.input.length ? flags.input : ['-'];
      if (flags.trust) specs = specs.map((s) => checkTrust(s, flags.trust!).open);
      specs = await expandLoadableSets(specs); // each loadable volume is an archive of its own
      const keys = flags.requireSigned.map(readCosignKey);
      await withSources(specs, async (sources) => {
        if (keys.length) await requireSigned(sources, keys);
        let progress: Progress | undefined;
        let phase = '';
        const results = await loadIntoStore(sources, (e) => {
          const key = `${e.phase} ${e.source}`;
          if (key !== phase) {
            progress?.done();
            phase = key;
            const total = e.total ?? sources.find((s) => s.display === e.source)?.catalog.blobs.reduce((n, b) => n + (b.size ?? 0), 0) ?? 0;
            progress = progressFor(ctx, `${e.phase === 'verify' ? 'verifying' : 'loading'} ${e.source}`, total);
          }
          progress!.update(e.bytes, e.current);
        }).finally(() => progress?.done());
        if (flags.json) {
          printJson(ctx.io, { loaded: results.map((r) => ({ source: r.source, names: r.names, unnamed: r.unnamed, blobsWritten: r.added.blobs, bytesWritten: r.added.bytes, blobsPresent: r.present.blobs, bytesPresent: r.present.bytes })) });
          return;
        }
        for (const r of results) {
          for (const n of r.names) ctx.io.out(`Loaded image: ${familiarName(n)}`);
          for (const id of r.unnamed) ctx.io.out(`Loaded image ID: ${id}`);
          if (ctx.io.quiet) continue;
          ctx.io.err(r.added.blobs ? `${r.source}: ${humanSize(r.added.bytes)} added to the store (${count(r.added.blobs, 'blob')})` : `${r.source}: nothing added to the store`);
          if (r.present.blobs) ctx.io.err(`${r.source}: ${humanSize(r.present.bytes)} already in the store (${count(r.present.blobs, 'blob')}), not written again`);
        }
      }, ctx);
    });
}
