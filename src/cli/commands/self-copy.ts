/**
 * self-copy DIR: the running imgpack as one file (the bundle, or the executable when running as
 * one), a README for the far side and imgpack.sha256, so that the USB drive that carries the
 * images also carries the tool that reads them.
 */
import { chmodSync, copyFileSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { fromSystemError, usage } from '../../errors.js';
import { VERSION } from '../../version.js';
import { checkFreeSpace } from '../../io/output.js';
import { registerTemp, releaseTemp, siblingTempName } from '../../io/temp.js';
import { fsyncPath } from '../../io/atomic.js';
import { humanSize } from '../format.js';
import { printJson } from '../io.js';

/** Set (to the version) by the single-file build, scripts/bundle.mjs; undefined in dist/. */
declare const IMGPACK_BUNDLE: string | undefined;

export interface RunningImgpack {
  kind: 'bundle' | 'executable';
  path: string;
}

/** The one file that is this imgpack: the executable, the bundle, or the bundle built beside dist/. */
export async function runningImgpack(): Promise<RunningImgpack> {
  if (isSea()) return { kind: 'executable', path: process.execPath };
  if (typeof IMGPACK_BUNDLE !== 'undefined') return { kind: 'bundle', path: __filename };
  // The modules of an npm install or a checkout: the bundle is dist/imgpack.cjs when it was built.
  const built = fileURLToPath(new URL('../../imgpack.cjs', import.meta.url));
  if (existsSync(built)) return { kind: 'bundle', path: built };
  throw usage('no-bundle', 'this imgpack runs from its modules, not from one file: build the bundle first (npm run build:bundle), or run self-copy from the bundle (node imgpack.cjs self-copy DIR)', built);
}

/**
 * Synchronously and without import(): inside a single executable, Node 20 has no dynamic import
 * and its require() knows only Node's own modules. (node:sea and getBuiltinModule came in Node
 * 20.12 and 20.16; an older Node is not running an executable built by scripts/sea.mjs.)
 */
function isSea(): boolean {
  return process.getBuiltinModule?.('node:sea')?.isSea() ?? false;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('self-copy')
    .summary('copy imgpack itself (one file), a README and its sha256 into DIR, for the far side of an air gap')
    .argument('<dir>', 'an existing directory: the USB drive that carries the images')
    .option('--json', 'print a JSON report')
    .addHelpText('after', `
Writes imgpack.cjs (the bundle: runs with Node >= 20 alone) or imgpack (the executable: runs
without Node), imgpack-README.txt and imgpack.sha256 (check with sha256sum -c imgpack.sha256).

Examples:
  imgpack save nginx:1.25 -o /media/usb/bundle.tar --volume-size fat32 && imgpack self-copy /media/usb/`)
    .action(async (dir: string, flags: { json?: boolean }) => {
      const self = await runningImgpack();
      const name = self.kind === 'executable' ? 'imgpack' : 'imgpack.cjs';
      const size = statSync(self.path).size;
      try {
        if (!statSync(dir).isDirectory()) throw usage('not-a-directory', 'not a directory', dir);
      } catch (e) {
        throw fromSystemError(e, dir);
      }
      await checkFreeSpace(join(dir, name), size + 16384);

      const program = writeAtomically(join(dir, name), (temp) => copyFileSync(self.path, temp), 0o755);
      const readme = writeAtomically(join(dir, 'imgpack-README.txt'), (temp) => writeFileSync(temp, farSideReadme(self.kind, name)));
      const sums = `${program.sha256}  ${name}\n${readme.sha256}  imgpack-README.txt\n`;
      const sumsFile = writeAtomically(join(dir, 'imgpack.sha256'), (temp) => writeFileSync(temp, sums));
      const files = [{ name, ...program }, { name: 'imgpack-README.txt', ...readme }, { name: 'imgpack.sha256', ...sumsFile }];
      if (flags.json) return printJson(ctx.io, { directory: dir, kind: self.kind, version: VERSION, from: self.path, files });
      if (!ctx.io.quiet) ctx.io.err(`Wrote ${join(dir, name)} (imgpack ${VERSION}, ${self.kind === 'executable' ? 'the executable' : 'the bundle'}, ${humanSize(size)}), imgpack-README.txt and imgpack.sha256`);
    });
}

/** temp name beside the target, fsync, rename: the file appears only when whole. */
function writeAtomically(target: string, write: (temp: string) => void, mode = 0o644): { size: number; sha256: string } {
  const temp = siblingTempName(target);
  const remove = registerTemp(temp);
  try {
    write(temp);
    chmodSync(temp, mode);
    fsyncPath(temp);
    const data = readFileSync(temp);
    const sha256 = createHash('sha256').update(data).digest('hex');
    renameSync(temp, target);
    releaseTemp(temp);
    return { size: data.length, sha256 };
  } catch (e) {
    remove();
    throw fromSystemError(e, target);
  }
}

function farSideReadme(kind: RunningImgpack['kind'], name: string): string {
  const run = kind === 'executable' ? './imgpack' : 'node imgpack.cjs';
  const needs = kind === 'executable'
    ? 'imgpack is a single executable for Linux x86-64 (glibc): it needs no Node.js and nothing else.'
    : 'imgpack.cjs needs Node.js >= 20 and nothing else: no npm, no node_modules, no network.';
  return `imgpack ${VERSION}: move container images across an air gap without a Docker daemon.

${needs}

Check the copy first:
  sha256sum -c imgpack.sha256

Then, in this directory (${basename(name)} is the whole program):
  ${run} --help
  ${run} verify bundle.tar.001               # a volume set: every volume's sha256 first, then every digest
  ${run} load -i bundle.tar.001              # into imgpack's store here (--store DIR to choose it)
  ${run} save nginx:1.25 -o - | docker load  # from the store into docker
  ${run} join bundle.tar.001 -o bundle.tar && docker load -i bundle.tar
  ${run} verify bundle.tar && docker load -i bundle.tar   # a single archive

A volume set is FILE.001, FILE.002, ... and FILE.imgpack.json, which lists each volume's size and
sha256 and the imgpack version that wrote it. Exit status: 0 success, 1 the images or archives
are at fault, 2 usage or environment.
`;
}
