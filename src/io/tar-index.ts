/**
 * A seek-based index of an uncompressed tar file: we read each 512-byte header, skip over the
 * member's content by offset, and never read a member's data. Handles ustar, GNU (L/K long names,
 * base-256 sizes) and PAX (x/g) headers. Problems (bad names, truncation, corrupt headers) are
 * collected rather than thrown, so that `verify` can report all of them.
 */
import { SegmentedFile } from './segmented-file.js';
import { checkpoint } from './cancel.js';

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

export interface TarEntry {
  /** Normalised name: no leading `./` or `/`, no trailing `/`, no empty components. */
  name: string;
  /** The name as the header spells it. */
  rawName: string;
  type: TarEntryType;
  size: number;
  mode: number;
  /** Byte offset of the header, and of the first content byte, in the tar file. */
  headerOffset: number;
  dataOffset: number;
  linkname?: string;
}

export interface TarIndexProblem {
  code: 'tar-truncated' | 'tar-corrupt-header' | 'tar-limit-members' | 'tar-unsafe-name' | 'tar-duplicate' | 'tar-no-end' | 'tar-trailing-garbage' | 'tar-sparse';
  message: string;
  subject: string;
  severity: 'error' | 'warning';
  /**
   * Where the file ends (tar-truncated, tar-no-end): inside `member` after `have` of the `need`
   * bytes it declares (a header or an extended header counts as a member's first bytes), or, for
   * tar-no-end, after the last whole member `after`.
   */
  end?: { at: number; member?: string; have?: number; need?: number; after?: string };
}

export interface TarIndex {
  entries: TarEntry[];
  problems: TarIndexProblem[];
  /** File size, and whether two zero blocks ended the archive. */
  fileSize: number;
  sawEndMarker: boolean;
}

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);
const NO_PAX: Record<string, string> = Object.freeze({}) as Record<string, string>;
/** Headers are read through a window of this size, so many small members cost one read. */
const WINDOW = 64 * 1024;
/** PAX and GNU long-name payloads above this are refused: no legitimate name is that long. */
const MAX_META_SIZE = 1024 * 1024;

/**
 * The index holds every member in memory (about 250 bytes each): a hostile tar of millions of
 * empty members would otherwise grow it without bound. docker save writes 4 members per layer,
 * so 500,000 is room for 100,000 layers. IMGPACK_MAX_MEMBERS overrides it.
 */
export function maxMembers(): number {
  const env = Number(process.env.IMGPACK_MAX_MEMBERS);
  return Number.isSafeInteger(env) && env > 0 ? env : 500_000;
}

/**
 * Header reads are synchronous: thousands of 512-byte reads from the page cache cost microseconds
 * each, where a round trip through the thread pool per header costs tens.
 */
class WindowReader {
  private buf = Buffer.alloc(WINDOW);
  private start = 0;
  private end = 0;
  constructor(private readonly file: SegmentedFile, private readonly fileSize: number) {}

  /** `length` bytes at `pos`, or fewer at the end of the file. */
  async read(pos: number, length: number): Promise<Buffer> {
    if (pos >= this.start && pos + length <= this.end) return this.buf.subarray(pos - this.start, pos - this.start + length);
    if (length > WINDOW) {
      const big = Buffer.alloc(Math.min(length, Math.max(0, this.fileSize - pos)));
      const bytesRead = this.file.readSync(big, 0, big.length, pos);
      return big.subarray(0, bytesRead);
    }
    // After a long jump (a big member) the next header is alone: read one page, not a window.
    const span = pos - this.end > WINDOW ? 4096 : WINDOW;
    const bytesRead = this.file.readSync(this.buf, 0, Math.max(span, length), pos);
    this.start = pos;
    this.end = pos + bytesRead;
    return this.buf.subarray(0, Math.min(length, bytesRead));
  }
}

export async function indexTarFile(input: string | SegmentedFile): Promise<TarIndex> {
  const file = typeof input === 'string' ? SegmentedFile.single(input) : input;
  try {
    return await indexTar(new WindowReader(file, file.size), file.size);
  } finally {
    if (typeof input === 'string') file.close();
  }
}

/** True when the first block parses as a tar header (or the archive is empty zeros). */
export function looksLikeTar(first: Buffer): boolean {
  if (first.length < BLOCK) return false;
  const block = first.subarray(0, BLOCK);
  if (block.equals(ZERO_BLOCK)) return true;
  return checksumOk(block);
}

/**
 * True when `partial` (less than a block) is the start of a tar header cut short: a name then an
 * octal mode field, and the ustar magic when the cut is past it. Shorter than the mode field,
 * nothing can be told.
 */
export function looksLikeCutHeader(partial: Buffer): boolean {
  if (partial.length >= BLOCK || partial.length < 108) return false;
  const name = partial.subarray(0, 100);
  const end = name.indexOf(0);
  if (end <= 0 || name.subarray(end).some((b) => b !== 0)) return false;
  if (!/^[0-7 ]*\0?$/.test(partial.toString('latin1', 100, 108))) return false;
  return partial.length < 263 || partial.toString('latin1', 257, 262) === 'ustar';
}

async function indexTar(reader: WindowReader, fileSize: number): Promise<TarIndex> {
  const entries: TarEntry[] = [];
  const problems: TarIndexProblem[] = [];
  let pos = 0;
  let sawEndMarker = false;
  let pax: Record<string, string> = {};
  let globalPax: Record<string, string> = {};
  let gnuLongName: string | undefined;
  let gnuLongLink: string | undefined;
  let paxCount = 0;
  const limit = maxMembers();

  while (pos + BLOCK <= fileSize) {
    if (entries.length >= limit) {
      problems.push({ code: 'tar-limit-members', severity: 'error', subject: `offset ${pos}`, message: `the archive has more than ${limit} members, the limit (IMGPACK_MAX_MEMBERS)` });
      break;
    }
    if (entries.length % 4096 === 0) await checkpoint(); // millions of members take a while
    // A view into the read window: it is consumed before the next read overwrites it.
    const header = await reader.read(pos, BLOCK);
    if (header.length < BLOCK) break;
    if (header.equals(ZERO_BLOCK)) {
      sawEndMarker = true;
      const rest = await hasNonZeroBytes(reader, pos + BLOCK, fileSize);
      if (rest !== undefined) {
        problems.push({ code: 'tar-trailing-garbage', severity: 'warning', subject: `offset ${rest}`, message: 'non-zero bytes after the end of the tar archive are ignored' });
      }
      break;
    }
    if (!checksumOk(header)) {
      problems.push({ code: 'tar-corrupt-header', severity: 'error', subject: `offset ${pos}`, message: 'corrupt tar header (checksum mismatch): the archive is damaged or is not a tar' });
      break;
    }
    const typeflag = String.fromCharCode(header[156] || 48);
    const size = parseNumeric(header, 124, 12);
    if (size === undefined) {
      problems.push({ code: 'tar-corrupt-header', severity: 'error', subject: `offset ${pos}`, message: 'corrupt tar header (unreadable size)' });
      break;
    }
    const dataOffset = pos + BLOCK;
    const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    const truncated = dataOffset + size > fileSize;

    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (truncated || size > MAX_META_SIZE) {
        problems.push(truncated
          ? { code: 'tar-truncated', severity: 'error', subject: `offset ${pos}`, message: 'tar archive is truncated inside an extended header', end: { at: fileSize, member: `the extended header at byte ${pos}`, have: fileSize - dataOffset, need: size } }
          : { code: 'tar-corrupt-header', severity: 'error', subject: `offset ${pos}`, message: `extended header of ${size} bytes exceeds the ${MAX_META_SIZE}-byte limit` });
        break;
      }
      const payload = Buffer.from(await reader.read(dataOffset, size));
      if (typeflag === 'x') pax = { ...pax, ...parsePax(payload) };
      else if (typeflag === 'g') globalPax = { ...globalPax, ...parsePax(payload) };
      if (typeflag === 'x' || typeflag === 'g') paxCount = Object.keys(pax).length + Object.keys(globalPax).length;
      else if (typeflag === 'L') gnuLongName = cString(payload, 0, payload.length);
      else gnuLongLink = cString(payload, 0, payload.length);
      pos = next;
      continue;
    }

    const hasPax = paxCount > 0;
    const merged: Record<string, string> = hasPax ? { ...globalPax, ...pax } : NO_PAX;
    let rawName = merged.path ?? gnuLongName ?? headerName(header);
    const linkname = merged.linkpath ?? gnuLongLink ?? cString(header, 157, 100);
    const realSize = merged.size !== undefined && /^\d+$/.test(merged.size) ? Number(merged.size) : size;
    pax = {};
    paxCount = Object.keys(globalPax).length;
    gnuLongName = gnuLongLink = undefined;
    const type = entryType(typeflag);
    // Links and directories have no content whatever the size field says (GNU tar and Go agree).
    const contentSize = type === 'file' ? realSize : 0;
    const realNext = dataOffset + Math.ceil(contentSize / BLOCK) * BLOCK;
    if (typeflag === 'S') {
      problems.push({ code: 'tar-sparse', severity: 'error', subject: rawName, message: 'GNU sparse members are not supported in image archives' });
    }
    const entry: TarEntry = {
      name: '',
      rawName,
      type,
      size: contentSize,
      mode: parseNumeric(header, 100, 8) ?? 0,
      headerOffset: pos,
      dataOffset,
      ...(type === 'symlink' || type === 'hardlink' ? { linkname } : {}),
    };
    const unsafe = nameProblem(rawName);
    if (unsafe) {
      problems.push({ code: 'tar-unsafe-name', severity: 'error', subject: displayName(rawName), message: unsafe });
    } else {
      const name = normalizeMemberName(rawName);
      entry.name = name === rawName ? rawName : name; // one string, not two equal ones, per member
    }
    if (realNext > fileSize) {
      // Cut inside the member, or inside the padding after it (GNU tar and Python's tarfile call
      // both an unexpected end of the archive).
      const have = Math.max(0, fileSize - dataOffset);
      const end = have < contentSize
        ? { at: fileSize, member: displayName(rawName), have, need: contentSize }
        : { at: fileSize, member: `the padding after member ${displayName(rawName)}`, have: have - contentSize, need: realNext - dataOffset - contentSize };
      problems.push({ code: 'tar-truncated', severity: 'error', subject: displayName(rawName), message: `tar archive is truncated: member needs ${contentSize} bytes, ${have} remain`, end });
      entries.push(entry);
      break;
    }
    entries.push(entry);
    rawName = '';
    pos = realNext;
  }
  const stopped = problems.some((p) => p.code === 'tar-truncated' || p.code === 'tar-corrupt-header' || p.code === 'tar-limit-members');
  if (!sawEndMarker && !stopped && pos < fileSize) {
    // Less than a block is left: a cut inside the next header, or inside the end blocks.
    const tail = await reader.read(pos, fileSize - pos);
    if (tail.some((b) => b !== 0)) {
      problems.push({ code: 'tar-truncated', severity: 'error', subject: `offset ${pos}`, message: 'tar archive is truncated inside a member header', end: { at: fileSize, member: `the header at byte ${pos}`, have: fileSize - pos, need: BLOCK } });
    } else {
      sawEndMarker = true; // the end blocks, cut short: every member is whole
    }
  }
  if (!sawEndMarker && entries.length > 0 && !stopped && !problems.some((p) => p.code === 'tar-truncated')) {
    // Every archive writer measured (docker, podman, skopeo, containerd, buildah, umoci, ggcr,
    // Jib...) ends its archives with two zero blocks. Without them the file was cut at a member
    // boundary, or written by a tool that omits them: the reader of the archive decides (a
    // complete image archive is only warned about; a cut one is called truncated).
    const last = entries[entries.length - 1];
    problems.push({ code: 'tar-no-end', severity: 'warning', subject: `offset ${pos}`, message: 'tar archive has no end-of-archive blocks', end: { at: fileSize, after: last.name || displayName(last.rawName) } });
  }
  markDuplicates(entries, problems);
  return { entries, problems, fileSize, sawEndMarker };
}

/** Later members replace earlier ones with the same name (as extraction does): we keep the last. */
function markDuplicates(entries: TarEntry[], problems: TarIndexProblem[]): void {
  const seen = new Map<string, TarEntry>();
  for (const e of entries) {
    if (!e.name) continue;
    const prev = seen.get(e.name);
    if (prev && !(prev.type === 'directory' && e.type === 'directory')) {
      problems.push({ code: 'tar-duplicate', severity: 'error', subject: e.name, message: 'member appears more than once (the last one is used)' });
    }
    seen.set(e.name, e);
  }
}

async function hasNonZeroBytes(reader: WindowReader, from: number, fileSize: number): Promise<number | undefined> {
  // Scan a bounded tail: docker pads to 10 KiB records; a multi-GB tail of zeros is not worth reading.
  const limit = Math.min(fileSize, from + 1024 * 1024);
  for (let p = from; p < limit; p += WINDOW) {
    const chunk = await reader.read(p, Math.min(WINDOW, limit - p));
    const i = chunk.findIndex((b) => b !== 0);
    if (i >= 0) return p + i;
  }
  return undefined;
}

export function nameProblem(raw: string): string | undefined {
  if (raw.includes('\0')) return 'member name contains a NUL byte';
  if (raw.startsWith('/')) return 'member name is absolute';
  if (raw.split('/').includes('..')) return 'member name climbs out of the archive with ".."';
  if (normalizeMemberName(raw) === '' && raw !== '.' && raw !== './') return 'member name is empty';
  return undefined;
}

export function normalizeMemberName(raw: string): string {
  return raw.split('/').filter((c) => c !== '' && c !== '.').join('/');
}

function displayName(raw: string): string {
  const s = raw.replace(/\0/g, '\\0');
  return s.length > 200 ? s.slice(0, 197) + '...' : s;
}

function entryType(flag: string): TarEntryType {
  switch (flag) {
    case '0': case '\0': case '7': case 'S': return 'file';
    case '1': return 'hardlink';
    case '2': return 'symlink';
    case '3': return 'char';
    case '4': return 'block';
    case '5': return 'directory';
    case '6': return 'fifo';
    default: return 'other';
  }
}

function checksumOk(block: Buffer): boolean {
  const stored = parseNumeric(block, 148, 8);
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 32 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** Octal (NUL/space terminated) or GNU base-256 (high bit set) numeric field. */
function parseNumeric(buf: Buffer, off: number, len: number): number | undefined {
  if (buf[off] & 0x80) {
    let value = 0;
    for (let i = 1; i < len; i++) value = value * 256 + buf[off + i];
    if (buf[off] === 0xff) return undefined; // negative: never a valid size
    value += (buf[off] & 0x3f) * 256 ** (len - 1);
    return Number.isSafeInteger(value) ? value : undefined;
  }
  const s = buf.toString('latin1', off, off + len).replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return undefined;
  return parseInt(s, 8);
}

function cString(buf: Buffer, off: number, len: number): string {
  const slice = buf.subarray(off, off + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul >= 0 ? nul : slice.length).toString('utf8');
}

function headerName(header: Buffer): string {
  const name = cString(header, 0, 100);
  const magic = header.toString('latin1', 257, 263);
  if (magic === 'ustar\0') {
    const prefix = cString(header, 345, 155);
    if (prefix) return `${prefix}/${name}`;
  }
  return name;
}

function parsePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < buf.length) {
    const space = buf.indexOf(0x20, i);
    if (space < 0) break;
    const len = parseInt(buf.toString('latin1', i, space), 10);
    if (!Number.isFinite(len) || len <= 0 || i + len > buf.length) break;
    const record = buf.toString('utf8', space + 1, i + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}
