import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { listImages } from '../../ops/store-ops.js';
import { humanSize, short, table } from '../format.js';
import { printJson } from '../io.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('images')
    .summary('list the images of the local store, like docker images')
    .argument('[ref]', 'only this repository or name')
    .option('--json', 'print JSON (full references, sizes in bytes)')
    .option('--digests', 'show manifest digests')
    .option('--no-trunc', 'full image IDs (sha256:...), not the first 12 digits')
    .addHelpText('after', `
-q (--quiet) prints only the image IDs, one per row as docker does (--no-trunc: in full).
SIZE is the uncompressed size, as docker shows it; STORED is what the image takes in the store,
SHARED the part of it other images use too, UNIQUE what removing it would free.

Examples:
  imgpack images
  imgpack images busybox --digests
  imgpack images -q`)
    .action(async (ref: string | undefined, flags: { json?: boolean; digests?: boolean; trunc: boolean }) => {
      const rows = await listImages(ref);
      if (flags.json) {
        printJson(ctx.io, { images: rows });
        return;
      }
      const id = (digest: string) => (flags.trunc ? short(digest) : digest);
      if (ctx.io.quiet) { // -q, --quiet (a global option): image IDs only, one per row, as docker images -q
        for (const r of rows) ctx.io.out(id(r.id));
        return;
      }
      const header = ['REPOSITORY', 'TAG', ...(flags.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE', 'STORED', 'SHARED', 'UNIQUE'];
      ctx.io.out(table(header, rows.map((r) => [
        r.repository, r.tag, ...(flags.digests ? [r.digest ?? '<none>'] : []), id(r.id), since(r.created),
        r.size === null ? '-' : humanSize(r.size), humanSize(r.stored), humanSize(r.shared), humanSize(r.unique),
      ])));
    });
}

/** docker's "3 days ago". */
export function since(iso: string | null, now = Date.now()): string {
  if (!iso) return 'N/A';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'N/A';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const units: [number, string][] = [[365 * 86400, 'year'], [30 * 86400, 'month'], [7 * 86400, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  for (const [size, name] of units) {
    const n = Math.floor(s / size);
    if (n >= 1) return `${n} ${name}${n === 1 ? '' : 's'} ago`;
  }
  return 'Less than a second ago';
}
