/** Reading small JSON members (manifests, configs, indexes) with a size cap, as containerd does. */
import type { FileTree, TreeFile } from '../io/file-tree.js';
import type { Findings } from '../model/catalog.js';

/** containerd caps JSON at 20 MiB on import; IMGPACK_MAX_JSON overrides it (bytes). */
export function maxJsonBytes(): number {
  const env = Number(process.env.IMGPACK_MAX_JSON);
  return Number.isSafeInteger(env) && env > 0 ? env : 20 * 1024 * 1024;
}

/**
 * No manifest, index or config nests more than a handful of levels. A hostile one nested 100k
 * deep parses (JSON.parse is iterative) but overflows the stack of everything recursive after it
 * (JSON.stringify for --json, deep copies): refused before parsing, like Go's 10000-level limit.
 */
export const MAX_JSON_DEPTH = 1000;

/** The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count). */
export function jsonDepth(raw: Buffer): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

export type JsonRead = { ok: true; raw: Buffer; json: unknown; file: TreeFile } | { ok: false; missing: boolean };

/**
 * Reads and parses a JSON member. Records a problem (coded `<code>-missing`, `-too-large`,
 * `-not-json`, ...) unless `quietMissing` and it is absent.
 */
export async function readJsonMember(
  tree: FileTree,
  name: string,
  findings: Findings,
  opts: { subject?: string; quietMissing?: boolean; what?: string } = {},
): Promise<JsonRead> {
  const subject = opts.subject ?? name;
  const what = opts.what ?? name;
  const r = await tree.resolve(name);
  if (!r.ok) {
    if (r.reason === 'missing') {
      if (!opts.quietMissing) findings.problem('missing', `${what} is missing`, subject);
      return { ok: false, missing: true };
    }
    findings.problem(r.reason === 'escapes' ? 'link-escapes' : r.reason === 'loop' ? 'link-loop' : 'not-a-file', `${what}: ${r.message}`, subject);
    return { ok: false, missing: false };
  }
  const limit = maxJsonBytes();
  if (r.file.size > limit) {
    findings.problem('limit-json-size', `${what} is ${r.file.size} bytes, over the ${limit}-byte limit for JSON documents (IMGPACK_MAX_JSON)`, subject);
    return { ok: false, missing: false };
  }
  const raw = await tree.head(r.file, r.file.size);
  if (raw.length !== r.file.size) {
    findings.problem('truncated', `${what} is truncated`, subject);
    return { ok: false, missing: false };
  }
  if (jsonDepth(raw) > MAX_JSON_DEPTH) {
    findings.problem('limit-json-depth', `${what} is nested more than ${MAX_JSON_DEPTH} levels deep, the limit for JSON documents`, subject);
    return { ok: false, missing: false };
  }
  try {
    return { ok: true, raw, json: JSON.parse(raw.toString('utf8')), file: r.file };
  } catch (e) {
    const reason = e instanceof RangeError ? 'nested too deeply' : raw.length === 0 ? 'empty' : 'not valid JSON';
    findings.problem('bad-json', `${what} is ${reason}`, subject);
    return { ok: false, missing: false };
  }
}
