import type { Command } from 'commander';
import { Option } from 'commander';
import type { CommandContext } from '../context.js';
import { collect } from '../context.js';
import { usage } from '../../errors.js';
import type { ArchiveSource } from '../../formats/source.js';
import { commitImage, type CommitOptions } from '../../ops/commit.js';
import { rootsOf } from '../../ops/plan.js';
import { newName } from '../../ops/rename.js';
import { addOutputOptions, outputOf, platformOf, runWrite, withSources, zstdLevelOf, type WriteFlags } from '../write-common.js';

interface CommitFlags extends WriteFlags {
  tag: string[];
  add: string[];
  remove: string[];
  change: string[];
  author?: string;
  message?: string;
  sourceDateEpoch?: string;
  preserveOwner?: boolean;
  layerPerAdd?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('commit')
    .summary('make an image from a base (or scratch) and files, like docker commit / crane append')
    .argument('<base>', 'archive, OCI layout, store:, or scratch')
    .option('--image <ref>', 'the base image (when the base holds several)', collect, [])
    .option('--platform <os/arch[/variant]>', 'of a multi-platform base, this platform (default: this host\'s, as docker does)')
    .option('-t, --tag <name>', 'name of the new image (repeatable)', collect, [])
    .option('--add <path[:dest]>', 'a directory or tar file to add as a layer (repeatable)', collect, [])
    .option('--remove <path>', 'delete a path of the base (a whiteout) (repeatable)', collect, [])
    .option('-c, --change <instruction>', 'a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL (repeatable)', collect, [])
    .option('-a, --author <author>', 'author, as docker commit -a')
    .option('-m, --message <message>', 'commit message, as docker commit -m')
    .addOption(new Option('--compress <c>', 'compression of the new layer (-o x.tar.gz wraps the output)').choices(['gzip', 'zstd', 'none']).default('gzip'))
    .option('--source-date-epoch <seconds>', 'created time and the latest mtime (reproducible builds)', process.env.SOURCE_DATE_EPOCH)
    .option('--preserve-owner', 'keep file owners (default 0:0)')
    .option('--layer-per-add', 'one layer per --add instead of one for all');
  addOutputOptions(cmd, true, { compress: false });
  cmd.addHelpText('after', `
Examples:
  imgpack commit base.tar --image busybox -o web.tar -t myhttpd_server:v0.1-1 \\
    --add ./html:/data/html -a "MageEdu <mage@magedu.com>" -c 'CMD ["/bin/httpd","-f","-h","/data/html"]'
  imgpack commit scratch --add rootfs.tar -t mybase:1 -o store:`)
    .action(async (spec: string, flags: CommitFlags) => {
      ctx.io.json = !!flags.json;
      const out = outputOf({ ...flags, compress: undefined });
      const epoch = flags.sourceDateEpoch === undefined ? undefined : Number(flags.sourceDateEpoch);
      if (epoch !== undefined && (!Number.isSafeInteger(epoch) || epoch < 0)) throw usage('bad-epoch', '--source-date-epoch is a number of seconds', flags.sourceDateEpoch);
      const names = flags.tag.map(newName);
      const opts: CommitOptions = { adds: flags.add, removes: flags.remove, changes: flags.change, author: flags.author, message: flags.message, compress: flags.compress as 'gzip' | 'zstd' | 'none', zstdLevel: zstdLevelOf(flags), sourceDateEpoch: epoch, preserveOwner: flags.preserveOwner, layerPerAdd: flags.layerPerAdd };
      const run = async (base: ArchiveSource | undefined) => {
        const { source, image } = await commitImage(base, { ...opts, images: flags.image, platform: platformOf(flags), names });
        await runWrite(ctx, { roots: rootsOf(source) }, out, base ? [base] : [], flags, { image, names });
      };
      if (spec === 'scratch') await run(undefined);
      else await withSources([spec], ([base]) => run(base), ctx);
    });
}
