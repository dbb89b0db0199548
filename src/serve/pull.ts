/**
 * The pull side of the distribution API, from the store: /v2/, manifests by tag or digest,
 * blobs (with Range, streamed from disk), tags/list and _catalog with n/last pagination.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { digestProblem } from '../model/digest.js';
import { blobUnknown, manifestUnknown, nameUnknown, paginationInvalid, rangeInvalid, RegistryError } from './errors.js';
import { send, sendJson, type Req, type Res } from './http-util.js';
import { catalogName } from './names.js';
import type { StoreView } from './store-view.js';

export function apiVersion(res: Res): void {
  sendJson(res, 200, {});
}

/** GET/HEAD /v2/<name>/manifests/<tag|digest>: what the store has, as it is (see serveManifest). */
export function getManifest(view: StoreView, req: Req, res: Res, repository: string, reference: string): void {
  const byDigest = reference.includes(':');
  let digest = reference;
  if (byDigest) {
    if (digestProblem(reference)) throw new RegistryError(400, 'DIGEST_INVALID', 'invalid digest', { digest: reference });
  } else {
    const d = view.resolveTag(repository, reference);
    if (!d) throw view.tags(repository) ? manifestUnknown(reference) : nameUnknown(repository);
    digest = d.digest;
  }
  const m = view.manifest(digest);
  if (!m) throw manifestUnknown(reference);
  // The manifest is served as it is stored, whatever Accept says: converting it would change
  // its digest, and every client of today (docker >= 1.10, containerd, podman, skopeo) accepts
  // both the Docker v2 and the OCI media types.
  send(res, 200, { 'Content-Type': m.mediaType, 'Docker-Content-Digest': digest, ETag: `"${digest}"`, 'Content-Length': m.raw.length }, req.method === 'HEAD' ? undefined : m.raw);
}

export async function getBlob(view: StoreView, req: Req, res: Res, digest: string): Promise<void> {
  if (digestProblem(digest)) throw new RegistryError(400, 'DIGEST_INVALID', 'invalid digest', { digest });
  const file = view.blobFile(digest);
  if (!file) throw blobUnknown(digest);
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    'Accept-Ranges': 'bytes',
    ETag: `"${digest}"`,
    'Cache-Control': 'max-age=31536000',
  };
  let start = 0;
  let end = file.size - 1;
  let status = 200;
  const range = req.headers.range;
  if (range) {
    const r = parseRange(range, file.size);
    if (r === 'unsatisfiable') throw rangeInvalid(`range ${range} is not satisfiable for ${file.size} bytes`, { 'Content-Range': `bytes */${file.size}` });
    if (r) {
      ({ start, end } = r);
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
    }
  }
  headers['Content-Length'] = Math.max(0, end - start + 1);
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (req.method === 'HEAD' || end < start) {
    res.end();
    return;
  }
  // An open file survives a prune that removes the blob meanwhile.
  const stream = createReadStream(file.path, { start, end });
  await pipeline(stream, res).catch((e) => {
    if (!res.headersSent) throw e;
    res.destroy(); // the client went away, or the file vanished mid-way: the length tells them
  });
}

/**
 * A single `bytes=` range: `a-b`, `a-`, `-n`. undefined for what we ignore (several ranges,
 * another unit: the whole blob is served, as RFC 9110 allows).
 */
export function parseRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** `n`/`last` pagination with a Link header to the next page, as distribution does. */
export function paginate(items: string[], query: URLSearchParams, basePath: string, res: Res): string[] {
  const sorted = [...items].sort();
  const last = query.get('last');
  let rest = last ? sorted.filter((t) => t > last) : sorted;
  const nRaw = query.get('n');
  if (nRaw !== null) {
    if (!/^\d+$/.test(nRaw)) throw paginationInvalid(nRaw);
    const n = Number(nRaw);
    if (rest.length > n && n > 0) res.setHeader('Link', `<${basePath}?n=${n}&last=${encodeURIComponent(rest[n - 1])}>; rel="next"`);
    rest = rest.slice(0, n);
  }
  return rest;
}

export function listTags(view: StoreView, res: Res, name: string, repository: string, query: URLSearchParams, basePath: string): void {
  const tags = view.tags(repository);
  if (!tags) throw nameUnknown(repository);
  sendJson(res, 200, { name, tags: paginate(tags, query, basePath, res) });
}

export function catalog(view: StoreView, res: Res, query: URLSearchParams): void {
  const repos = [...new Set(view.repositories().map(catalogName))];
  sendJson(res, 200, { repositories: paginate(repos, query, '/v2/_catalog', res) });
}
