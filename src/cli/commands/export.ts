import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { invalid } from '../../errors.js';
import { exportImage } from '../../ops/export.js';
import { selectImages, describeImage } from '../../ops/select.js';
import { humanSize } from '../format.js';
import { printJson } from '../io.js';
import { collect } from '../context.js';
import { withSources } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('export')
    .summary("write an image's flattened filesystem as a tar, like docker export")
    .argument('<source>', 'archive, OCI layout, volume set, store: or -')
    .option('--image <ref>', 'the image (needed when the source holds several)', collect, [])
    .requiredOption('-o, --output <file>', 'the root filesystem tar to write')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Layers are applied in order; whiteouts (.wh.NAME) and opaque directories are honoured.

Examples:
  imgpack export images.tar --image busybox:latest -o rootfs.tar`)
    .action(async (spec: string, flags: { image: string[]; output: string; json?: boolean }) => {
      ctx.io.json = !!flags.json;
      await withSources([spec], async ([source]) => {
        const images = selectImages(source.catalog, flags.image, source.display);
        if (images.length !== 1) {
          throw invalid('ambiguous-image', `${source.display} holds ${images.length} images (${images.map(describeImage).join('; ')}); choose one with --image`, source.display);
        }
        const r = await exportImage(source, images[0], flags.output);
        if (flags.json) return printJson(ctx.io, r);
        for (const s of r.skipped) ctx.io.err(`skipped ${s.path}: ${s.reason}`);
        if (!ctx.io.quiet) ctx.io.err(`Wrote ${flags.output}: ${r.entries} entries, ${humanSize(r.bytes)}`);
      }, ctx);
    });
}
