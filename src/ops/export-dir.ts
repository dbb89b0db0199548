/**
 * `export -o DIR/`: an image's flattened file system unpacked into a directory, as `umoci
 * unpack` or `crane export - | tar -x` give it. The entries come from `flatten` (export.ts), which
 * already drops what could escape the root (climbing names, writes through a symlinked parent,
 * hardlinks out); tar-fs writes them, refusing on its own any path or hardlink that leaves the
 * directory. Symlinks are written as they are (an absolute `/bin/sh -> busybox` is a link inside
 * the image, resolved by whoever runs it, never followed here).
 *
 * As `tar -x` would: modes exactly as recorded (no umask; setuid/setgid/sticky kept), owners set
 * only when running as root, by name when the image names an owner this host knows, else by number
 * (`numericOwner` always by number, as `tar --numeric-owner`). Device nodes only as root and when
 * asked (`devices`), fifos always. The tree is built under a temporary name beside DIR and renamed
 * when complete, so DIR never holds half an image.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, lchownSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { pack, type Header } from 'tar-stream';
import { extract as extractTo } from 'tar-fs';
import { fromSystemError, ImgpackError, usage } from '../errors.js';
import { fsyncPath } from '../io/atomic.js';
import { checkOutputDir } from '../io/output.js';
import { registerTemp, releaseTemp, siblingTempName } from '../io/temp.js';
import type { ArchiveSource } from '../formats/source.js';
import type { ImageRecord } from '../model/catalog.js';
import { flatten, type ExportReport } from './export.js';

export interface ExportDirOptions {
  /** Owners by uid/gid only, never by the names in the image (tar --numeric-owner). */
  numericOwner?: boolean;
  /** Create block and character devices (needs root); otherwise they are skipped and reported. */
  devices?: boolean;
}

const isRoot = () => process.getuid?.() === 0;

/** name -> id from /etc/passwd or /etc/group (the host's, as tar looks owners up). */
function hostIds(file: string): Map<string, number> {
  const ids = new Map<string, number>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id !== undefined && /^\d+$/.test(id)) ids.set(name, Number(id));
    }
  } catch { /* no such file: owners stay numeric */ }
  return ids;
}

export async function exportToDirectory(source: ArchiveSource, image: ImageRecord, dir: string, opts: ExportDirOptions = {}): Promise<ExportReport> {
  const target = dir.replace(/\/+$/, '') || '/';
  await checkOutputDir(target);
  const report: ExportReport = { image: image.id, entries: 0, bytes: 0, skipped: [] };
  const root = isRoot();
  const users = root && !opts.numericOwner ? hostIds('/etc/passwd') : new Map<string, number>();
  const groups = root && !opts.numericOwner ? hostIds('/etc/group') : new Map<string, number>();
  // What tar-fs does not write: special mode bits (it masks them), fifos and device nodes.
  const special: { path: string; mode: number }[] = [];
  const nodes: { path: string; header: Header }[] = [];

  const temp = siblingTempName(target);
  const remove = registerTemp(temp);
  mkdirSync(temp, { mode: 0o755 }); // tar-fs creates parents of entries, not the root itself
  const tarStream = pack();
  const written = pipeline(tarStream as unknown as Readable, extractTo(temp, {
    umask: 0,
    validateSymlinks: false, // links are data inside the image; flatten and tar-fs never write through one
    map: (h) => {
      if (root) {
        if (h.uname && users.has(h.uname)) h.uid = users.get(h.uname)!;
        if (h.gname && groups.has(h.gname)) h.gid = groups.get(h.gname)!;
      }
      if (h.type === 'contiguous-file') h.type = 'file';
      return h;
    },
    ignore: (_path, h) => {
      const header = h as Header;
      if (header.type === 'fifo' || header.type === 'block-device' || header.type === 'character-device') {
        nodes.push({ path: header.name, header });
        return true;
      }
      if (header.mode !== undefined && header.mode & 0o7000 && header.type !== 'symlink') special.push({ path: header.name, mode: header.mode & 0o7777 });
      return false;
    },
  }) as unknown as NodeJS.WritableStream);
  written.catch(() => {});
  try {
    for await (const { header, content } of flatten(source, image, (path, reason) => report.skipped.push({ path, reason }))) {
      await new Promise<void>((resolve, reject) => {
        const sink = tarStream.entry(header, (err) => (err ? reject(err) : resolve()));
        if (content) {
          content.pipe(sink as unknown as NodeJS.WritableStream);
          content.on('error', reject);
        } else {
          (sink as unknown as { end(): void }).end();
        }
      });
      report.entries++;
      report.bytes += header.size ?? 0;
    }
    tarStream.finalize();
    await written;
    for (const n of nodes) makeNode(temp, n.path, n.header, root, !!opts.devices, report);
    // chown (tar-fs, as root) clears setuid bits, so the full mode goes on last.
    for (const s of special) chmodSync(join(temp, s.path), s.mode);
    renameSync(temp, target);
    releaseTemp(temp);
    fsyncPath(join(target, '..'));
    return report;
  } catch (e) {
    tarStream.destroy();
    remove();
    throw e instanceof ImgpackError ? e : fromSystemError(e, target);
  }
}

/** A fifo (mkfifo) or, as root and when asked, a device node (mknod): Node has no call for either. */
function makeNode(root: string, name: string, h: Header, asRoot: boolean, devices: boolean, report: ExportReport): void {
  const path = join(root, name.replace(/\/+$/, ''));
  const mode = ((h.mode ?? 0o644) & 0o7777).toString(8);
  let args: [string, string[]];
  if (h.type === 'fifo') args = ['mkfifo', ['-m', mode, path]];
  else if (!asRoot || !devices) {
    report.skipped.push({ path: name, reason: `${h.type === 'block-device' ? 'block' : 'character'} device: written only as root with --devices` });
    report.entries--;
    return;
  } else args = ['mknod', ['-m', mode, path, h.type === 'block-device' ? 'b' : 'c', String(h.devmajor ?? 0), String(h.devminor ?? 0)]];
  const r = spawnSync(args[0], args[1], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw usage('export-node', `cannot create ${h.type} ${name}: ${(r.stderr || r.error?.message || '').trim()}`, path);
  if (asRoot) lchownSync(path, h.uid ?? 0, h.gid ?? 0);
}
