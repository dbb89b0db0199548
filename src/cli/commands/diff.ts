import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { invalid } from '../../errors.js';
import type { ArchiveSource } from '../../formats/source.js';
import { diffImages, type FileInfo } from '../../ops/diff.js';
import { oneImage } from '../../ops/select.js';
import { short } from '../format.js';
import { printJson } from '../io.js';
import { platformOf, withSources } from '../write-common.js';

function one(source: ArchiveSource, ref: string | undefined, flag: string, platform: string | undefined) {
  return oneImage(source.catalog, { images: ref ? [ref] : undefined, platform: platform ? platformOf({ image: [], platform } as Parameters<typeof platformOf>[0]) : undefined, flag }, source.display);
}

/** `mode 0755 -> 0700`, `size 3 -> 5 bytes`, `link target a -> b`: one changed field of a file. */
function describeChange(field: keyof FileInfo, a: FileInfo[keyof FileInfo], b: FileInfo[keyof FileInfo]): string {
  const mode = (m: unknown) => (Number(m) & 0o7777).toString(8).padStart(4, '0');
  switch (field) {
    case 'mode': return `mode ${mode(a)} -> ${mode(b)}`;
    case 'size': return `size ${a} -> ${b} bytes`;
    case 'linkname': return `link target ${a ?? '(none)'} -> ${b ?? '(none)'}`;
    case 'digest': return `content ${a ? short(String(a)) : '(none)'} -> ${b ? short(String(b)) : '(none)'}`;
    default: return `${field} ${a} -> ${b}`;
  }
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('diff')
    .summary('what changed between two images: layers, configuration, files')
    .argument('<source-a>', 'archive, OCI layout, volume set or store:')
    .argument('<source-b>', 'archive, OCI layout, volume set or store:')
    .option('--image-a <ref>', 'the image of source A (when it holds several)')
    .option('--image-b <ref>', 'the image of source B (when it holds several)')
    .option('--platform <os/arch[/variant]>', 'of multi-platform images, this platform (default: this host\'s)')
    .option('--platform-a <os/arch[/variant]>', 'the platform of source A\'s image')
    .option('--platform-b <os/arch[/variant]>', 'the platform of source B\'s image')
    .option('--exit-code', 'exit 1 when the images differ')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Exit status: 0 whatever differs, unless --exit-code (then 1 when the images differ).

Examples:
  imgpack diff release-1.tar release-2.tar
  imgpack diff store: build.tar --image-a app:1.0 --exit-code`)
    .action(async (specA: string, specB: string, flags: { imageA?: string; imageB?: string; exitCode?: boolean; json?: boolean; platform?: string; platformA?: string; platformB?: string }) => {
      ctx.io.json = !!flags.json;
      const specs = specA === specB ? [specA] : [specA, specB];
      await withSources(specs, async (sources) => {
        const [sa, sb] = sources.length === 1 ? [sources[0], sources[0]] : sources;
        const r = await diffImages(sa, one(sa, flags.imageA, '--image-a', flags.platformA ?? flags.platform), sb, one(sb, flags.imageB, '--image-b', flags.platformB ?? flags.platform));
        if (flags.json) printJson(ctx.io, r);
        else {
          const io = ctx.io;
          io.out(r.same ? 'The images are the same.' : `A ${short(r.a.id)} ${r.a.names.join(', ')}\nB ${short(r.b.id)} ${r.b.names.join(', ')}`);
          if (!r.same) {
            io.out(`Layers: ${r.layers.shared.length} shared, ${r.layers.onlyA.length} only in A, ${r.layers.onlyB.length} only in B`);
            for (const c of r.config) io.out(`~ ${c.field}: ${JSON.stringify(c.a)} -> ${JSON.stringify(c.b)}`);
            for (const f of r.files.added) io.out(`+ ${f}`);
            for (const f of r.files.removed) io.out(`- ${f}`);
            for (const f of r.files.changed) io.out(`~ ${f.path} ${f.fields.map((k) => describeChange(k, f.a[k], f.b[k])).join(', ')}`);
          }
        }
        if (flags.exitCode && !r.same) ctx.setExitCode(1);
      }, ctx);
    });
}
