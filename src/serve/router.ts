/**
 * Routes /v2/ requests to the pull and push handlers and turns every failure into the spec's
 * JSON error. Every response carries Docker-Distribution-API-Version.
 */
import { RegistryError, unsupported } from './errors.js';
import { sendError, sendJson, type Req, type Res } from './http-util.js';
import { repositoryOf } from './names.js';
import { apiVersion, catalog, getBlob, getManifest, listTags } from './pull.js';
import type { DeleteHandlers } from './delete.js';
import type { PushHandlers } from './push.js';
import { getReferrers } from './referrers.js';
import type { StoreView } from './store-view.js';

export interface RouterOptions {
  view: StoreView;
  /** undefined when read-only. */
  push?: PushHandlers;
  /** undefined when read-only. */
  remove?: DeleteHandlers;
  /** Unexpected failures (not a RegistryError), for the caller to log. */
  onError?: (e: unknown, req: Req) => void;
}

const READ = new Set(['GET', 'HEAD']);

export function createRouter(opts: RouterOptions): (req: Req, res: Res) => Promise<void> {
  return async (req, res) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    try {
      await route(opts, req, res);
    } catch (e) {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      if (e instanceof RegistryError) {
        sendError(res, e);
        return;
      }
      opts.onError?.(e, req);
      sendError(res, new RegistryError(500, 'UNKNOWN', `internal error: ${(e as Error)?.message?.split('\n')[0] ?? String(e)}`));
    }
  };
}

async function route(opts: RouterOptions, req: Req, res: Res): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://serve.invalid');
  let path: string;
  try {
    path = decodeURIComponent(url.pathname); // sha256%3A... is sha256:...
  } catch {
    throw new RegistryError(400, 'NAME_INVALID', 'the path is not valid percent-encoding');
  }
  const method = req.method ?? 'GET';
  const query = url.searchParams;
  const { view, push, remove } = opts;

  if (path === '/v2/' || path === '/v2') {
    if (!READ.has(method)) throw unsupported(`${method} is not supported here`);
    return apiVersion(res);
  }
  if (path === '/v2/_catalog') {
    if (!READ.has(method)) throw unsupported(`${method} is not supported here`);
    return catalog(view, res, query);
  }
  let m: RegExpExecArray | null;
  const repo = (name: string) => repositoryOf(name, query.get('ns'));
  const writable = (): PushHandlers => {
    if (!push) throw unsupported('this registry is read-only (imgpack serve --read-only)');
    return push;
  };
  const deletable = (): DeleteHandlers => {
    if (!remove) throw unsupported('this registry is read-only (imgpack serve --read-only)');
    return remove;
  };

  if ((m = /^\/v2\/(.+)\/tags\/list$/.exec(path))) {
    if (!READ.has(method)) throw unsupported(`${method} is not supported here`);
    return listTags(view, res, m[1], repo(m[1]), query, `/v2/${m[1]}/tags/list`);
  }
  if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path))) {
    const [, name, reference] = m;
    const repository = repo(name);
    if (READ.has(method)) return getManifest(view, req, res, repository, reference);
    if (method === 'PUT') return writable().putManifest(req, res, name, repository, reference);
    if (method === 'DELETE') return deletable().deleteManifest(res, repository, reference);
    throw unsupported(`${method} is not supported on manifests`);
  }
  if ((m = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(path))) {
    const [, name, digest] = m;
    repo(name);
    if (!READ.has(method)) throw unsupported(`${method} is not supported on referrers`);
    return getReferrers(view, req, res, digest, query);
  }
  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path))) {
    const [, name] = m;
    const repository = repo(name);
    if (method === 'POST') return writable().startUpload(req, res, name, repository, query);
    throw unsupported(`${method} is not supported here`);
  }
  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(path))) {
    const [, name, id] = m;
    const repository = repo(name);
    const p = writable();
    if (method === 'PATCH') return p.patchUpload(req, res, name, repository, id);
    if (method === 'PUT') return p.putUpload(req, res, name, repository, id, query);
    if (method === 'GET') return p.uploadStatus(req, res, name, repository, id);
    if (method === 'DELETE') return p.cancelUpload(res, repository, id);
    throw unsupported(`${method} is not supported on uploads`);
  }
  if ((m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path))) {
    const [, name, digest] = m;
    repo(name); // a bad name is NAME_INVALID even where the repository does not matter
    if (READ.has(method)) return getBlob(view, req, res, digest);
    if (method === 'DELETE') return deletable().deleteBlob(res, digest);
    throw unsupported(`${method} is not supported on blobs`);
  }
  sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: `no such endpoint: ${method} ${path}` }] });
}
