import type { Command } from 'commander';
import { openSource } from '../../formats/source.js';
import { inspectSource, type InspectReport } from '../../ops/inspect.js';
import { formatPlatform } from '../../model/oci.js';
import { familiarName } from '../../model/reference.js';
import { ago, count, humanSize, short, table } from '../format.js';
import { printJson, type Io } from '../io.js';
import { collect, type CommandContext } from '../context.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('inspect')
    .summary('show the images, layers, indexes and artifacts of an archive')
    .argument('<source>', 'archive file, OCI layout directory, or - for standard input')
    .option('--json', 'print one JSON document')
    .option('--image <ref>', 'only this image: name, image ID prefix or digest (repeatable)', collect, [])
    .option('-l, --layers', 'list each image\'s layers with the history line that made them')
    .addHelpText('after', `
Examples:
  imgpack inspect images.tar
  imgpack inspect images.tar --image busybox:latest --layers
  docker save busybox | imgpack inspect - --json`)
    .action(async (spec: string, opts: { json?: boolean; image: string[]; layers?: boolean }) => {
      const source = await openSource(spec);
      try {
        const report = inspectSource(source, opts.image);
        if (opts.json) printJson(ctx.io, report);
        else printHuman(ctx.io, report, !!opts.layers);
        // CLI.md: an input that holds no image and has problems is not an image archive (exit 1);
        // what was found is printed all the same.
        if (report.images.length === 0 && report.problems.length > 0) ctx.setExitCode(1);
      } finally {
        await source.close();
      }
    });
}

function printHuman(io: Io, r: InspectReport, layers: boolean): void {
  io.out(`${r.source}: ${r.format}${r.compression !== 'none' ? `, ${r.compression}-compressed` : ''}, ${r.images.length} image${r.images.length === 1 ? '' : 's'}`);
  if (r.images.length) {
    io.out('');
    io.out(table(
      ['IMAGE ID', 'NAMES', 'PLATFORM', 'CREATED', 'SIZE', 'LAYERS'],
      r.images.map((i) => [
        short(i.id),
        [...i.repoTags.map(familiarName), ...i.refNames.map((n) => `(ref ${n})`)].join(', ') || '<none>',
        formatPlatform(i.platform ?? undefined),
        ago(i.created),
        humanSize(i.size),
        String(i.layers.length),
      ]),
    ));
  }
  if (layers) {
    for (const i of r.images) {
      io.out('');
      io.out(`${short(i.id)} ${i.repoTags.map(familiarName).join(', ')}`);
      io.out(table(['LAYER', 'DIFF ID', 'SIZE', 'MEDIA TYPE', 'CREATED BY'], i.layers.map((l) => [
        short(l.digest), l.diffId ? short(l.diffId) : '-', humanSize(l.size), l.mediaType, (l.createdBy ?? '').replace(/\s+/g, ' ').slice(0, 80),
      ])));
    }
  }
  if (r.shared.layers.length) {
    io.out('');
    io.out(`Shared: ${r.shared.layers.length} layer${r.shared.layers.length === 1 ? ' is' : 's are'} used by several images, which saves ${humanSize(r.shared.savedBytes)}`);
  }
  for (const idx of r.indexes) {
    io.out('');
    io.out(`Index ${short(idx.digest)} (${count(idx.manifests.length, 'manifest')}): ${idx.manifests.map((m) => `${m.platform}${m.present ? '' : ' (absent)'}`).join(', ')}`);
  }
  if (r.artifacts.length) {
    io.out('');
    io.out(table(['ARTIFACT', 'KIND', 'TYPE', 'FOR'], r.artifacts.map((a) => [short(a.digest), a.kind, a.artifactType ?? a.mediaType, a.refersTo ? short(a.refersTo) : '-'])));
  }
  for (const p of r.problems) io.err(`problem: ${p.message} (${p.subject})`);
  for (const w of r.warnings) io.err(`warning: ${w.message} (${w.subject})`);
}
