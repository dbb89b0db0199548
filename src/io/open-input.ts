/**
 * Opens an input as a FileTree: a directory as it is; an uncompressed tar file in place (indexed by
 * seeking); a compressed file or standard input spooled once, decompressed, into $TMPDIR.
 */
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { open, stat, statfs } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform, Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { fromSystemError, ImgpackError, invalid, usage } from '../errors.js';
import { decompress, ENDS_EARLY, MAGIC_LENGTH, sniffCompression, type Compression } from './compression.js';
import { DirTree, TarTree, type FileTree } from './file-tree.js';
import { looksLikeCutHeader, looksLikeTar } from './tar-index.js';
import { registerTemp, spoolDir } from './temp.js';
import { cancelSignal, unlessCancelled } from './cancel.js';
import type { Problem } from '../model/catalog.js';
import { blocksReading, checkVolumes, findVolumeSet, laterVolumeError, laterVolumeOf, VolumeError, volumeFile, type VolumeSet } from './volumes.js';

export interface OpenedInput {
  tree: FileTree;
  compression: Compression;
  /** How the user named it: a path, or `-`. */
  display: string;
  /** Set when the input is a set of volumes. */
  volumes?: VolumeSet;
  /** Damage that does not stop a read (parity volumes): verify reports it. */
  volumeProblems?: Problem[];
  /** The compressed data stopped short: the tree holds what came before the cut. */
  endsEarly?: boolean;
}

export async function openInput(spec: string): Promise<OpenedInput> {
  if (spec === '-') {
    // As docker load: nobody types an archive. Waiting would look like a hang behind a spinner.
    if (process.stdin.isTTY) throw usage('stdin-is-terminal', 'standard input is a terminal; give -i FILE or pipe an archive');
    return openStream(process.stdin, '-');
  }
  const volumes = findVolumeSet(spec);
  if (volumes?.loadable && spec.endsWith('.imgpack.json')) {
    throw usage('loadable-volumes', 'this set\'s volumes are archives of their own (--loadable-volumes): open one of them, or give the set to load -i or verify, which read them all', spec);
  }
  // A volume of a loadable set is a complete archive: it opens as one.
  if (volumes && !volumes.loadable) return openVolumes(volumes, spec);
  const later = laterVolumeOf(spec);
  if (later?.certain) throw laterVolumeError(later, spec);
  let st;
  try {
    st = await stat(spec);
  } catch (e) {
    throw fromSystemError(e, spec);
  }
  if (st.isDirectory()) {
    try {
      return { tree: await DirTree.open(spec), compression: 'none', display: spec };
    } catch (e) {
      throw fromSystemError(e, spec);
    }
  }
  let head: Buffer;
  try {
    const fh = await open(spec, 'r');
    try {
      head = Buffer.alloc(512);
      const { bytesRead } = await fh.read(head, 0, 512, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw fromSystemError(e, spec);
  }
  const compression = sniffCompression(head.subarray(0, MAGIC_LENGTH));
  if (compression === 'none') {
    if (head.length === 0) throw invalid('not-an-archive', 'not an image archive: the file is empty', spec);
    if (looksLikeCutHeader(head)) throw truncated(spec, `it ends inside the first header (byte ${head.length} of 512)`);
    if (!looksLikeTar(head) && later) throw laterVolumeError(later, spec);
    if (!looksLikeTar(head)) throw invalid('not-an-archive', 'not an image archive: neither a tar file nor a compressed one', spec);
    return { tree: await TarTree.open(spec), compression, display: spec };
  }
  return openStream(createReadStream(spec), spec, compression);
}

/** Spools `input` (decompressing it) to a temporary file, then indexes that. */
async function openStream(input: Readable, display: string, known?: Compression): Promise<OpenedInput> {
  const { head, stream } = await peek(input, 512);
  const compression = known ?? sniffCompression(head.subarray(0, MAGIC_LENGTH));
  if (head.length === 0) throw invalid('not-an-archive', 'not an image archive: the input is empty', display);
  const spoolPath = join(spoolDir(), `input-${randomBytes(4).toString('hex')}.tar`);
  const remove = registerTemp(spoolPath);
  let endsEarly = false;
  try {
    await pipeline(decompress(stream, compression, display), spoolLimit(await maxSpoolBytes(spoolDir()), display), spoolFile(spoolPath), { signal: cancelSignal });
  } catch (e) {
    // A cut .tar.gz: what came before the cut is indexed, so that the cut can be named.
    if (e instanceof ImgpackError && e.code === ENDS_EARLY) {
      endsEarly = true;
    } else {
      remove();
      throw e instanceof ImgpackError ? e : fromSystemError(e, display);
    }
  }
  const first = await readHead(spoolPath);
  if (!looksLikeTar(first)) {
    remove();
    if (looksLikeCutHeader(first)) throw truncated(display, `it ends inside the first header (byte ${first.length} of 512)`);
    if (endsEarly) throw truncated(display, `its ${compression} data ends early, before the first whole tar header`);
    throw invalid('not-an-archive', `not an image archive: ${compression === 'none' ? 'not a tar file' : `the ${compression} data does not hold a tar file`}`, display);
  }
  return { tree: await TarTree.open(spoolPath, remove), compression, display, ...(endsEarly ? { endsEarly } : {}) };
}

/**
 * The spool's file, written chunk by chunk before the next is taken: when the input breaks off,
 * every byte that came is in the file (a stream would drop what it still buffered).
 */
function spoolFile(path: string): Writable {
  let fd: number | undefined;
  const close = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };
  return new Writable({
    construct(cb) {
      try {
        fd = openSync(path, 'wx');
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    write(chunk: Buffer, _enc, cb) {
      try {
        for (let off = 0; off < chunk.length;) off += writeSync(fd!, chunk, off, chunk.length - off);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    final(cb) {
      close();
      cb();
    },
    destroy(err, cb) {
      try { close(); } catch { /* closed */ }
      cb(err);
    },
  });
}

/**
 * An input cut short (CLI.md: named as truncated, where it ends, what was expected), or
 * undefined when it is whole. `incomplete` says what the reader found missing (no manifest,
 * members it names): an archive that ends on a member boundary without the end blocks is cut
 * when something is missing, and only lacks its end blocks (a warning) when nothing is.
 */
export function truncationOf(input: OpenedInput, incomplete?: string): ImgpackError | undefined {
  const problems = input.tree.problems;
  const cut = problems.find((p) => p.code === 'tar-truncated')?.end;
  const noEnd = problems.find((p) => p.code === 'tar-no-end')?.end;
  const inside = cut?.member && (cut.member.startsWith('the ') ? `${cut.member} (byte ${cut.have} of ${cut.need})` : `member ${cut.member} (byte ${cut.have} of a member that needs ${cut.need})`);
  // Byte-split volumes are read as one file: a cut last volume, or a missing one when no transfer
  // manifest says how many there are, shows at the end of the last volume found.
  const files = input.volumes?.files;
  const last = files && !input.volumes!.manifest ? `, at the end of ${basename(files[files.length - 1])}, the last volume found (one after it may be missing)` : '';
  let where: string | undefined;
  if (input.endsEarly) {
    where = inside ? `its ${input.compression} data ends early, inside ${inside}`
      : noEnd?.after ? `its ${input.compression} data ends early, after member ${noEnd.after}`
        : `its ${input.compression} data ends early, after the end of the tar data (its check is missing)`;
  } else if (inside) {
    where = `it ends inside ${inside}${last}`;
  } else if (noEnd && incomplete) {
    where = `it ends after member ${noEnd.after} at byte ${noEnd.at}${last}, without the end-of-archive blocks, and ${incomplete}`;
  }
  return where ? truncated(input.display, where) : undefined;
}

function truncated(display: string, where: string): ImgpackError {
  return invalid('truncated', `${display === '-' ? 'standard input' : display} is truncated: ${where}; the copy is incomplete`);
}

/**
 * A small compressed file can inflate to terabytes (a gzip bomb): the spool stops at
 * IMGPACK_MAX_SPOOL bytes when it is set (exit 1, a safety limit), else before it would take the
 * last 64 MiB of the spool file system (exit 2, no space), instead of filling the disk.
 */
async function maxSpoolBytes(dir: string): Promise<{ bytes: number; explicit: boolean }> {
  const env = Number(process.env.IMGPACK_MAX_SPOOL);
  if (Number.isSafeInteger(env) && env > 0) return { bytes: env, explicit: true };
  try {
    const s = await statfs(dir);
    return { bytes: Math.max(0, Number(s.bavail) * Number(s.bsize) - RESERVE), explicit: false };
  } catch {
    return { bytes: Number.MAX_SAFE_INTEGER, explicit: false };
  }
}

const RESERVE = 64 * 1024 * 1024;

function spoolLimit(limit: { bytes: number; explicit: boolean }, display: string): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      if (total <= limit.bytes) return cb(null, chunk);
      cb(limit.explicit
        ? invalid('limit-spool', `the decompressed input is over ${limit.bytes} bytes, the limit for spooled input (IMGPACK_MAX_SPOOL)`, display)
        : usage('no-space', `not enough free space in ${spoolDir()} to spool the decompressed input (over ${limit.bytes} bytes; point TMPDIR or IMGPACK_TMPDIR elsewhere)`, display));
    },
  });
}

async function readHead(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Reads the first `n` bytes of a stream and gives back a stream that still starts at byte 0. */
async function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let total = 0;
  const iterator = input[Symbol.asyncIterator]();
  while (total < n) {
    const { value, done } = await unlessCancelled(iterator.next()); // a pipe may never speak
    if (done) break;
    const buf = Buffer.isBuffer(value) ? value : Buffer.from(value);
    chunks.push(buf);
    total += buf.length;
  }
  const head = Buffer.concat(chunks);
  async function* rest() {
    yield head;
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) return;
      yield value;
    }
  }
  return { head, stream: Readable.from(rest(), { objectMode: false }) };
}

/** A volume set: every volume checked against the manifest first, then read as one file. */
async function openVolumes(set: VolumeSet, display: string): Promise<OpenedInput> {
  const problems = await checkVolumes(set);
  if (blocksReading(problems)) throw new VolumeError(problems, display);
  const volumeProblems = problems.length ? problems : undefined;
  const file = volumeFile(set);
  const head = Buffer.alloc(512);
  const n = file.readSync(head, 0, 512, 0);
  const compression = sniffCompression(head.subarray(0, MAGIC_LENGTH));
  if (compression === 'none') {
    if (!looksLikeTar(head.subarray(0, n))) {
      file.close();
      throw invalid('not-an-archive', 'not an image archive: the volumes do not hold a tar file', display);
    }
    return { tree: await TarTree.open(file), compression, display, volumes: set, volumeProblems };
  }
  const opened = await openStream(file.stream(), display, compression);
  file.close();
  return { ...opened, volumes: set, volumeProblems };
}
