import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { exportImage } from '../../ops/export.js';
import { exportToDirectory } from '../../ops/export-dir.js';
import { isDirectoryOutput } from '../../io/output.js';
import { oneImage } from '../../ops/select.js';
import { humanSize } from '../format.js';
import { printJson } from '../io.js';
import { collect } from '../context.js';
import { platformOf, withSources } from '../write-common.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('export')
    .summary("write an image's flattened filesystem as a tar, like docker export")
    .argument('<source>', 'archive, OCI layout, volume set, store: or -')
    .option('--image <ref>', 'the image (needed when the source holds several)', collect, [])
    .requiredOption('-o, --output <file|dir/>', 'the root filesystem tar to write, or a new (or empty) directory to unpack it into')
    .option('--platform <os/arch[/variant]>', 'of a multi-platform image, this platform (default: this host\'s, as docker does)')
    .option('--numeric-owner', 'with -o DIR/ as root: owners by uid/gid, not by the names in the image (tar --numeric-owner)')
    .option('--devices', 'with -o DIR/ as root: create the device nodes of the image (skipped otherwise)')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Layers are applied in order; whiteouts (.wh.NAME) and opaque directories are honoured.

Into a directory (-o DIR/ or an existing empty directory), as umoci unpack: modes kept exactly,
owners only as root, nothing outside DIR ever written, DIR appears complete or not at all.

Examples:
  imgpack export images.tar --image busybox:latest -o rootfs.tar
  imgpack export images.tar --image busybox:latest -o rootfs/`)
    .action(async (spec: string, flags: { image: string[]; output: string; json?: boolean; numericOwner?: boolean; devices?: boolean; platform?: string }) => {
      ctx.io.json = !!flags.json;
      await withSources([spec], async ([source]) => {
        const images = [oneImage(source.catalog, { images: flags.image, platform: platformOf(flags as Parameters<typeof platformOf>[0]) }, source.display)];
        const r = isDirectoryOutput(flags.output)
          ? await exportToDirectory(source, images[0], flags.output, { numericOwner: flags.numericOwner, devices: flags.devices })
          : await exportImage(source, images[0], flags.output);
        if (flags.json) return printJson(ctx.io, r);
        for (const s of r.skipped) ctx.io.err(`skipped ${s.path}: ${s.reason}`);
        if (!ctx.io.quiet) ctx.io.err(`Wrote ${flags.output}: ${r.entries} ${r.entries === 1 ? "entry" : "entries"}, ${humanSize(r.bytes)}`);
      }, ctx);
    });
}
