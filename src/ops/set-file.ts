/**
 * Set files (`-f FILE` of pull, save and copy): a plain list, one reference a line with `#`
 * comments, or a YAML set whose entries are references, repositories with tag filters, or
 * `fromManifests: DIR` (what find-images finds there), each with optional platforms:
 *
 *   images:
 *     - ref: docker.io/library/nginx
 *       tags: {semver: ">=1.25 <1.27", latest: 3}     # or regex: '^1\.2[5-6]\.[0-9]+$', or [1.25.3, 1.26.0]
 *       platforms: [linux/amd64, linux/arm64]
 *     - ref: quay.io/prometheus/node-exporter:v1.8.2
 *     - fromManifests: ./k8s/
 *   platforms: [linux/amd64]                           # for entries that name none
 *
 * Parsing is pure and strict: an unknown key (a typo such as `platform:`) is an error naming the
 * file and line, never silently ignored. The YAML library limits aliases (billion laughs).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { fromSystemError, invalid } from '../errors.js';
import { formatPlatform, isPlatformSpec, parsePlatform, type Platform } from '../model/oci.js';
import { formatFull, parseReference, repositoryOf } from '../model/reference.js';
import { checkTagFilter, type TagFilter } from './tag-filter.js';

/** Where an entry was written, for messages: `set.yaml:7`. */
export interface SetOrigin {
  file: string;
  line?: number;
}

/** Platforms of an entry: a list, or every platform (`--all-platforms`). */
export type PlatformChoice = Platform[] | 'all';

export type SetEntry =
  /**
   * One image: a tag or a digest (`repo:tag@digest` pins a tag to a digest). `outsideLock`: a
   * retry of an image the lock already pins, neither looked up in the lock nor added to it.
   */
  | { kind: 'image'; reference: string; platforms?: PlatformChoice; origin: SetOrigin; outsideLock?: boolean }
  /** The tags of a repository that a filter picks from the registry's tag list. */
  | { kind: 'tags'; repository: string; filter: TagFilter; platforms?: PlatformChoice; origin: SetOrigin }
  /**
   * Every image reference find-images finds under a path (resolved against the set file's
   * folder). `reread`: a retry, which reads the manifests again rather than taking the lock's
   * list, and records what it finds under `key`, the entry of the set that failed.
   */
  | { kind: 'manifests'; path: string; written: string; platforms?: PlatformChoice; origin: SetOrigin; reread?: boolean; key?: string };

export interface ImageSet {
  entries: SetEntry[];
  /** The set files read, with the sha256 of each (recorded in the lock). */
  files: { path: string; sha256: string }[];
}

/** A set file is small; a bigger one is a mistake or hostile. */
export const MAX_SET_FILE_BYTES = 16 * 1024 * 1024;
/** Far beyond any real set (a Kubernetes release needs about 30 images). */
export const MAX_SET_ENTRIES = 100_000;

export function readSetFiles(paths: string[]): ImageSet {
  const set: ImageSet = { entries: [], files: [] };
  for (const path of paths) {
    let data: Buffer;
    try {
      if (statSync(path).size > MAX_SET_FILE_BYTES) throw invalid('limit-set-file', `the set file is larger than ${MAX_SET_FILE_BYTES} bytes: refused`, path);
      data = readFileSync(path);
    } catch (e) {
      throw fromSystemError(e, path);
    }
    set.entries.push(...parseSetFile(data.toString('utf8'), path));
    set.files.push({ path, sha256: `sha256:${createHash('sha256').update(data).digest('hex')}` });
    if (set.entries.length > MAX_SET_ENTRIES) throw invalid('limit-set-file', `the set names more than ${MAX_SET_ENTRIES} entries: refused`, path);
  }
  return set;
}

/** A YAML set when the file is a YAML mapping; else a plain list of references. */
export function parseSetFile(text: string, file: string): SetEntry[] {
  if (text.includes('\0')) throw invalid('bad-set-file', 'not a set file: it holds binary data', file);
  const lines = new LineCounter();
  let doc;
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  } catch (e) {
    throw invalid('bad-set-file', `cannot read the set file: ${(e as Error).message.split('\n')[0]}`, file);
  }
  const looksLikeYaml = /^\s*(images|platforms)\s*:/m.test(text);
  if (!isMap(doc.contents)) {
    if (looksLikeYaml && doc.errors.length) throw yamlError(doc.errors[0], lines, file);
    return parsePlainList(text, file);
  }
  if (doc.errors.length) throw yamlError(doc.errors[0], lines, file);
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw invalid('bad-set-file', `cannot read the set file: ${(e as Error).message.split('\n')[0]}`, file);
  }
  const top = js as Record<string, unknown>;
  const lineOf = (node: Node | undefined | null) => (node?.range ? lines.linePos(node.range[0]).line : undefined);
  for (const key of Object.keys(top)) {
    if (key !== 'images' && key !== 'platforms') throw invalid('bad-set-file', `unknown key "${key}" (a set has images: and platforms:)`, `${file}:${lineOf(doc.contents.items.find((p) => (p.key as { value?: unknown })?.value === key)?.key as Node) ?? 1}`);
  }
  if (!Array.isArray(top.images)) throw invalid('bad-set-file', 'a YAML set needs an images: list', `${file}:1`);
  const defaults = top.platforms === undefined ? undefined : platformList(top.platforms, `${file}:${lineOf(doc.get('platforms', true) as Node) ?? 1}`);
  const nodes = doc.get('images', true);
  const items = isSeq(nodes) ? nodes.items : [];
  const base = dirname(resolve(file));
  return top.images.map((raw, i) => {
    const origin: SetOrigin = { file, line: lineOf(items[i] as Node) };
    return parseEntry(raw, origin, base, defaults);
  });
}

function parseEntry(raw: unknown, origin: SetOrigin, base: string, defaults: PlatformChoice | undefined): SetEntry {
  const at = where(origin);
  if (typeof raw === 'string') return { kind: 'image', reference: fullReference(raw, at), platforms: defaults, origin };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('bad-set-file', 'an entry is a reference, or a mapping with ref: or fromManifests:', at);
  const e = raw as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (!['ref', 'tags', 'platforms', 'fromManifests'].includes(key)) throw invalid('bad-set-file', `unknown key "${key}" in an entry (ref, tags, platforms, fromManifests)`, at);
  }
  const platforms = e.platforms === undefined ? defaults : platformList(e.platforms, at);
  if (e.fromManifests !== undefined) {
    if (e.ref !== undefined || e.tags !== undefined) throw invalid('bad-set-file', 'an entry has either ref: or fromManifests:, not both', at);
    if (typeof e.fromManifests !== 'string' || !e.fromManifests) throw invalid('bad-set-file', 'fromManifests: is a path to a file or a folder', at);
    return { kind: 'manifests', path: resolve(base, e.fromManifests), written: e.fromManifests, platforms, origin };
  }
  if (typeof e.ref !== 'string') throw invalid('bad-set-file', 'an entry needs ref: (a reference) or fromManifests: (a path)', at);
  if (e.tags === undefined) return { kind: 'image', reference: fullReference(e.ref, at), platforms, origin };
  let ref;
  try {
    ref = parseReference(e.ref, { defaultTag: false });
  } catch (err) {
    throw invalid('bad-set-file', `invalid reference: ${(err as Error).message}`, `${at}: ${e.ref}`);
  }
  if (ref.tag !== undefined || ref.digest !== undefined) throw invalid('bad-set-file', 'with tags:, ref: names a repository, without a tag or digest', `${at}: ${e.ref}`);
  return { kind: 'tags', repository: repositoryOf(ref), filter: tagFilter(e.tags, at), platforms, origin };
}

function tagFilter(raw: unknown, at: string): TagFilter {
  if (Array.isArray(raw)) {
    if (raw.length === 0 || !raw.every((t) => typeof t === 'string' || typeof t === 'number')) throw invalid('bad-set-file', 'tags: as a list names tags, e.g. [1.25.3, 1.26.0]', at);
    const list = raw.map(String);
    for (const t of list) if (!/^[\w][\w.-]{0,127}$/.test(t)) throw invalid('bad-set-file', `invalid tag "${t}"`, at);
    return { list };
  }
  if (!raw || typeof raw !== 'object') throw invalid('bad-set-file', 'tags: is a mapping (semver, regex, latest) or a list of tags', at);
  const t = raw as Record<string, unknown>;
  for (const key of Object.keys(t)) if (!['semver', 'regex', 'latest'].includes(key)) throw invalid('bad-set-file', `unknown tag filter "${key}" (semver, regex, latest)`, at);
  const filter: TagFilter = {};
  if (t.semver !== undefined) {
    if (typeof t.semver !== 'string' && typeof t.semver !== 'number') throw invalid('bad-set-file', 'semver: is a range, e.g. ">=1.25 <1.27"', at);
    filter.semver = String(t.semver);
  }
  if (t.regex !== undefined) {
    if (typeof t.regex !== 'string') throw invalid('bad-set-file', "regex: is a regular expression, e.g. '^1\\.2[5-6]\\.[0-9]+$'", at);
    filter.regex = t.regex;
  }
  if (t.latest !== undefined) filter.latest = t.latest as number;
  if (filter.semver === undefined && filter.regex === undefined && filter.latest === undefined) throw invalid('bad-set-file', 'tags: needs semver, regex or latest', at);
  const problem = checkTagFilter(filter);
  if (problem) throw invalid('bad-set-file', problem, at);
  return filter;
}

function platformList(raw: unknown, at: string): Platform[] {
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw invalid('bad-set-file', 'platforms: names at least one os/arch[/variant]', at);
  return list.map((p) => {
    if (!isPlatformSpec(p)) throw invalid('bad-set-file', `a platform is os/arch[/variant], e.g. linux/arm64, not ${JSON.stringify(p)}`, at);
    return parsePlatform(p);
  });
}

/** One reference a line; `#` starts a comment (references never hold one). */
function parsePlainList(text: string, file: string): SetEntry[] {
  const entries: SetEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const origin = { file, line: i + 1 };
    if (/\s/.test(line)) throw invalid('bad-set-file', 'a plain set file has one reference a line', where(origin));
    entries.push({ kind: 'image', reference: fullReference(line, where(origin)), origin });
  });
  return entries;
}

function fullReference(input: string, at: string): string {
  try {
    return formatFull(parseReference(input));
  } catch (e) {
    throw invalid('bad-set-file', `invalid reference: ${(e as Error).message}`, `${at}: ${input}`);
  }
}

function yamlError(e: { message: string; pos: [number, number] }, lines: LineCounter, file: string) {
  const what = /call stack/i.test(e.message) ? 'it nests too deep' : e.message.split('\n')[0];
  return invalid('bad-set-file', `not valid YAML: ${what}`, `${file}:${lines.linePos(e.pos[0]).line}`);
}

export function where(origin: SetOrigin): string {
  return origin.line ? `${origin.file}:${origin.line}` : origin.file;
}

/**
 * What identifies an entry in a lock: its reference or filter and its platforms, never its file
 * or line, so that moving lines about keeps the lock valid while any change of meaning does not.
 */
export function entryKey(entry: SetEntry, platforms: PlatformChoice): string {
  const p = platforms === 'all' ? 'all platforms' : platforms.map(formatPlatform).join(',');
  if (entry.kind === 'image') return `${entry.reference} [${p}]`;
  if (entry.kind === 'manifests') return `fromManifests ${entry.written} [${p}]`;
  const f = entry.filter;
  const parts = f.list ? [`tags ${f.list.join(',')}`] : [
    ...(f.semver !== undefined ? [`semver ${f.semver}`] : []),
    ...(f.regex !== undefined ? [`regex ${f.regex}`] : []),
    ...(f.latest !== undefined ? [`latest ${f.latest}`] : []),
  ];
  return `${entry.repository} {${parts.join('; ')}} [${p}]`;
}
