import type { Command } from 'commander';
import { verifyPath } from '../../ops/verify.js';
import { humanSize } from '../format.js';
import { printJson } from '../io.js';
import { progressFor, type Progress } from '../progress.js';
import { collect, type CommandContext } from '../context.js';
import { checkTrust } from '../../ops/signing.js';
import { readLock } from '../../ops/lock.js';
import { withSources } from '../write-common.js';
import { readCosignKey, verifyCosign } from '../../ops/cosign-verify.js';
import { usage } from '../../errors.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('verify')
    .summary('check every digest, size, diffID and structure of an archive')
    .argument('<source>', 'archive file, OCI layout directory, or - for standard input')
    .option('--json', 'print { ok, problems, warnings } as JSON')
    .option('--base <source>', 'for a delta: check that these sources (store:, archives) hold every blob it left out (repeatable)', collect, [])
    .option('--trust <key.pub>', 'refuse the bundle unless its transfer manifest is signed by this key')
    .option('--lock <file>', 'an image set\'s lock: the bundle must hold exactly what it names (missing, extra, different digest are problems)')
    .option('--cosign-key <key.pub>', 'every image must carry a cosign signature that verifies with this key (repeatable: any of them), checked offline', collect, [])
    .option('--attestation-type <type>', 'with --cosign-key: every image must also carry a valid attestation of this predicate type (cosign\'s names: spdxjson, cyclonedx, slsaprovenance, ... or a URI; repeatable)', collect, [])
    .addHelpText('after', `
Exit status: 0 sound, 1 problems found (or not an image archive), 2 cannot be read.

Examples:
  imgpack verify images.tar && docker load -i images.tar
  imgpack verify ./oci-layout --json
  imgpack verify bundle.tar --lock cluster.lock
  imgpack verify bundle.tar --cosign-key cosign.pub --attestation-type spdxjson`)
    .action(async (spec: string, opts: { json?: boolean; base: string[]; trust?: string; lock?: string; cosignKey: string[]; attestationType: string[] }) => {
      ctx.io.json = !!opts.json;
      let progress: Progress | undefined;
      // A signature is checked before anything else is read; then the signed manifest is opened,
      // so that every sha256 it pins is checked too.
      const trusted = opts.trust ? checkTrust(spec, opts.trust) : undefined;
      const lock = opts.lock ? { ...readLock(opts.lock), path: opts.lock } : undefined;
      const report = await withSources(opts.base, (base) => verifyPath(trusted?.open ?? spec, {
        base: opts.base.length ? base : undefined,
        lock,
        onProgress: (e) => {
          progress ??= progressFor(ctx, `verifying ${spec}`, e.total);
          progress.update(e.bytes, e.member);
        },
      }), ctx).finally(() => progress?.done());
      if (trusted) Object.assign(report, { signedBy: trusted.keyId });
      if (opts.attestationType.length && !opts.cosignKey.length) throw usage('usage', '--attestation-type needs --cosign-key');
      const cosign = opts.cosignKey.length
        ? await withSources([trusted?.open ?? spec], ([source]) => verifyCosign(source, { keys: opts.cosignKey.map(readCosignKey), attestationTypes: opts.attestationType }))
        : undefined;
      if (cosign) {
        Object.assign(report, { cosign });
        for (const i of cosign.images) {
          if (i.problems.length) report.problems.push({ code: i.status === 'bad-signature' ? 'cosign-bad-signature' : 'cosign-unsigned', message: `${i.image}: ${i.problems.join('; ')}`, subject: i.digests[0] ?? i.id });
        }
        if (!cosign.ok) report.ok = false;
      }
      if (opts.json) {
        printJson(ctx.io, report);
      } else {
        for (const p of report.problems) ctx.io.err(`problem: ${p.message} (${p.subject})`);
        if (!ctx.io.quiet) for (const w of report.warnings) ctx.io.err(`warning: ${w.message} (${w.subject})`);
        const d = report.delta;
        const delta = d ? `, a delta against inventory ${d.inventory.slice(0, 19)}...: ${d.blobsOmitted} blob${d.blobsOmitted === 1 ? '' : 's'} (${humanSize(d.bytesOmitted)}) left out as expected${d.complete ? ', all present in the base' : ''}` : '';
        const signed = trusted ? `, signed by ${trusted.keyId}` : '';
        const l = report.lock;
        const locked = l ? `, exactly the ${l.matched.length} image${l.matched.length === 1 ? '' : 's'} of lock ${opts.lock}${l.madeFrom === l.sha256 ? ' (the lock it was made from)' : ''}` : '';
        for (const i of cosign?.images ?? []) {
          const attested = i.attestations.length ? `; attested: ${[...new Set(i.attestations.map((a) => a.predicateType))].join(', ')}` : '';
          const what = i.status === 'signed' ? `signed by ${i.signedBy.join(', ')}${attested}` : i.status === 'unsigned' ? 'NOT SIGNED' : 'BAD SIGNATURE';
          ctx.io.out(`cosign: ${i.image}: ${what}${i.problems.length ? ` (${i.problems.join('; ')})` : ''}`);
        }
        if (report.ok) {
          ctx.io.out(`${report.source}${report.source.endsWith(":") ? "" : ":"} OK (${report.format}, ${report.images} image${report.images === 1 ? '' : 's'}, ${report.blobsChecked} blobs, ${humanSize(report.bytesChecked)} checked${delta}${signed}${locked})`);
        } else {
          ctx.io.out(`${report.source}: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} found`);
        }
      }
      ctx.setExitCode(report.ok ? 0 : 1);
    });
}
