import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { collect } from '../context.js';
import { usage } from '../../errors.js';
import { RegistrySink } from '../../formats/registry/registry-sink.js';
import { copy } from '../../ops/copy.js';
import { selectRoots, type PlanRoot } from '../../ops/plan.js';
import { parsePrefixRule } from '../../ops/rename.js';
import { formatFull, parseReference, parseReferenceOrThrow, repositoryOf } from '../../model/reference.js';
import { printJson } from '../io.js';
import { withSources } from '../write-common.js';
import { ensureDeltaBlobs } from '../../ops/push-delta.js';

/** Where a name goes: by --replace-prefix, else the same repository path under --to. */
export function targetName(name: string, to: string | undefined, rules: { from: string; to: string }[]): string {
  const rule = rules.find((r) => name.startsWith(r.from));
  if (rule) return formatFull(parseReferenceOrThrow(rule.to + name.slice(rule.from.length)));
  if (!to) throw usage('usage', 'give --to REGISTRY[/PREFIX] or --replace-prefix OLD=NEW');
  const ref = parseReference(name);
  return formatFull(parseReferenceOrThrow(`${to.replace(/\/+$/, '')}/${ref.path}:${ref.tag ?? 'latest'}`));
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('push')
    .summary('push images of an archive or the store into a registry')
    .argument('<source>', 'archive, OCI layout, volume set or store:')
    .option('--image <ref>', 'only these images (repeatable)', collect, [])
    .option('--to <registry[/prefix]>', 'target registry, e.g. registry.local:5000 or registry.local:5000/mirror')
    .option('--replace-prefix <OLD=NEW>', 'rename as retag does (repeatable)', collect, [])
    .option('--mount-from <repository>', 'for a delta: a repository of the same registry that holds the blobs it left out (repeatable)', collect, [])
    .option('--json', 'print JSON')
    .addHelpText('after', `
Blobs the registry has are not sent again; manifests go after their blobs, tags last.

Examples:
  imgpack push bundle.tar --to registry.local:5000          # docker.io/library/nginx:1.25 -> registry.local:5000/library/nginx:1.25
  imgpack push store: --image nginx:1.25 --replace-prefix docker.io/library/=registry.local:5000/base/`)
    .action(async (spec: string, flags: { image: string[]; to?: string; replacePrefix: string[]; mountFrom: string[]; json?: boolean }) => {
      ctx.io.json = !!flags.json;
      const rules = flags.replacePrefix.map(parsePrefixRule);
      await withSources([spec], async ([source]) => {
        const roots = selectRoots(source, { images: flags.image });
        const byRepo = new Map<string, PlanRoot[]>();
        for (const root of roots) {
          if (root.node.kind === 'artifact') continue;
          if (root.names.length === 0 && !ctx.io.quiet) ctx.io.err('an image without a name is not pushed');
          for (const name of root.names) {
            const target = targetName(name, flags.to, rules);
            const repo = repositoryOf(parseReference(target));
            const list = byRepo.get(repo) ?? [];
            const same = list.find((r) => r.node === root.node);
            if (same) same.names.push(target);
            else list.push({ ...root, names: [target] });
            byRepo.set(repo, list);
          }
        }
        // A delta pushes only when the registry already has (or can mount) what it left out.
        if (source.catalog.delta) await ensureDeltaBlobs(source, [...byRepo.keys()], flags.mountFrom);
        const report: { repository: string; names: string[]; uploaded: number; present: number }[] = [];
        for (const [repo, repoRoots] of byRepo) {
          const sink = new RegistrySink(repo);
          await copy({ roots: repoRoots }, sink, { layers: 'keep' });
          report.push({ repository: repo, names: repoRoots.flatMap((r) => r.names), uploaded: sink.pushed.length, present: sink.skipped });
        }
        if (flags.json) return printJson(ctx.io, { pushed: report });
        for (const r of report) for (const n of r.names) ctx.io.out(`Pushed: ${n} (${r.uploaded} blobs uploaded, ${r.present} already there)`);
      }, ctx);
    });
}
