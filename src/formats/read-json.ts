/** Reading small JSON members (manifests, configs, indexes) with a size cap, as containerd does. */
import type { FileTree, TreeFile } from '../io/file-tree.js';
import type { Findings } from '../model/catalog.js';

/** containerd caps JSON at 20 MiB on import; IMGPACK_MAX_JSON overrides it (bytes). */
export function maxJsonBytes(): number {
  const env = Number(process.env.IMGPACK_MAX_JSON);
  return Number.isSafeInteger(env) && env > 0 ? env : 20 * 1024 * 1024;
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
  try {
    return { ok: true, raw, json: JSON.parse(raw.toString('utf8')), file: r.file };
  } catch (e) {
    const reason = e instanceof RangeError ? 'nested too deeply' : raw.length === 0 ? 'empty' : 'not valid JSON';
    findings.problem('bad-json', `${what} is ${reason}`, subject);
    return { ok: false, missing: false };
  }
}
