/**
 * An in-memory OCI distribution registry on 127.0.0.1 for client tests: pull and push (monolithic,
 * chunked PATCH, cross-repository mount), paginated tag lists, Basic or Bearer auth, and a hook to inject faults
 * (500s, 429s, connections closed mid-body, wrong bytes). Small on purpose: the real registry
 * (distribution, test/interop) is the reference; this one is for what a real one will not do.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

export interface FakeRegistryOptions {
  auth?: 'none' | 'basic' | 'bearer';
  /** user:password accepted by Basic auth and by the token endpoint. */
  user?: string;
  /** TLS: serve https with this key and certificate (PEM). */
  tls?: { key: Buffer; cert: Buffer };
  /** Return true when the hook answered the request itself (a fault). */
  fault?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export interface FakeRegistry {
  host: string;
  blobs: Map<string, Buffer>;
  /** Which repositories can see a blob (as in distribution, a blob is per repository). */
  links: Map<string, Set<string>>;
  /** repo -> reference (tag or digest) -> manifest */
  manifests: Map<string, Map<string, { mediaType: string; data: Buffer }>>;
  /** "METHOD path" of every request, in order. */
  log: string[];
  /** Connections that did not speak HTTP (a TLS handshake sent to the plain-HTTP server). */
  notHttp(): number;
  close(): Promise<void>;
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

export async function startFakeRegistry(opts: FakeRegistryOptions = {}): Promise<FakeRegistry> {
  const blobs = new Map<string, Buffer>();
  const links = new Map<string, Set<string>>();
  const link = (repo: string, digest: string) => links.set(repo, (links.get(repo) ?? new Set()).add(digest));
  const manifests = new Map<string, Map<string, { mediaType: string; data: Buffer }>>();
  const uploads = new Map<string, Buffer[]>();
  const log: string[] = [];
  const auth = opts.auth ?? 'none';
  const basic = opts.user ? `Basic ${Buffer.from(opts.user).toString('base64')}` : undefined;
  let host = '';

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    log.push(`${req.method} ${url.pathname}${url.search}`);
    const body = await readBody(req);
    if (url.pathname === '/token') {
      if (req.method === 'POST') {
        // OAuth2 refresh-token grant (docker's identitytoken): REFRESH-ME is the one we accept.
        const form = new URLSearchParams(body.toString());
        if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== 'REFRESH-ME') return send(res, 401, '');
        res.setHeader('content-type', 'application/json');
        return res.end(JSON.stringify({ access_token: `T0K3N-${form.get('scope')}` }));
      }
      if (basic && req.headers.authorization !== basic) return send(res, 401, '');
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ token: `T0K3N-${url.searchParams.getAll('scope').join(' ')}` }));
    }
    if (auth === 'basic' && req.headers.authorization !== basic) {
      res.setHeader('www-authenticate', 'Basic realm="fake"');
      return send(res, 401, '');
    }
    if (auth === 'bearer' && !req.headers.authorization?.startsWith('Bearer T0K3N')) {
      res.setHeader('www-authenticate', `Bearer realm="${opts.tls ? 'https' : 'http'}://${host}/token",service="fake"`);
      return send(res, 401, '');
    }
    if (opts.fault?.(req, res)) return;
    if (url.pathname === '/v2/') return send(res, 200, '{}');
    const tagList = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    if (tagList) {
      // Paginated as the distribution spec says: ?n=&last=, and a Link header to the next page.
      const all = [...(manifests.get(tagList[1])?.keys() ?? [])].filter((t) => !t.includes(':')).sort();
      const n = Number(url.searchParams.get('n') ?? all.length) || all.length;
      const last = url.searchParams.get('last');
      const from = last ? all.findIndex((t) => t > last) : 0;
      const page = from < 0 ? [] : all.slice(from, from + n);
      if (from >= 0 && from + n < all.length) res.setHeader('link', `</v2/${tagList[1]}/tags/list?n=${n}&last=${encodeURIComponent(page[page.length - 1])}>; rel="next"`);
      res.setHeader('content-type', 'application/json');
      return send(res, 200, JSON.stringify({ name: tagList[1], tags: page }));
    }
    const m = /^\/v2\/(.+?)\/(blobs\/uploads|manifests|blobs)\/(.*)$/.exec(url.pathname);
    if (!m) return send(res, 404, '');
    const [, repo, kind, ref] = m;
    if (kind === 'manifests') {
      const byRef = manifests.get(repo) ?? new Map();
      manifests.set(repo, byRef);
      if (req.method === 'PUT') {
        const entry = { mediaType: String(req.headers['content-type']), data: body };
        byRef.set(ref, entry);
        byRef.set(sha(body), entry);
        res.setHeader('docker-content-digest', sha(body));
        return send(res, 201, '');
      }
      const found = byRef.get(ref);
      if (!found) return send(res, 404, '');
      res.setHeader('content-type', found.mediaType);
      res.setHeader('docker-content-digest', sha(found.data));
      return send(res, 200, req.method === 'HEAD' ? '' : found.data, found.data.length);
    }
    if (kind === 'blobs') {
      const blob = links.get(repo)?.has(ref) ? blobs.get(ref) : undefined;
      if (!blob) return send(res, 404, '');
      const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
      if (range) {
        const start = Number(range[1]);
        res.setHeader('content-range', `bytes ${start}-${blob.length - 1}/${blob.length}`);
        return send(res, 206, blob.subarray(start));
      }
      return send(res, 200, req.method === 'HEAD' ? '' : blob, blob.length);
    }
    // uploads
    if (req.method === 'POST') {
      const mount = url.searchParams.get('mount');
      if (mount && blobs.has(mount) && links.get(url.searchParams.get('from') ?? '')?.has(mount)) {
        link(repo, mount);
        return send(res, 201, '');
      }
      const id = randomBytes(6).toString('hex');
      uploads.set(id, []);
      res.setHeader('location', `/v2/${repo}/blobs/uploads/${id}?state=x`);
      return send(res, 202, '');
    }
    const parts = uploads.get(ref);
    if (!parts) return send(res, 404, '');
    if (req.method === 'PATCH') {
      parts.push(body);
      res.setHeader('location', `/v2/${repo}/blobs/uploads/${ref}?state=y`);
      res.setHeader('range', `0-${Buffer.concat(parts).length - 1}`);
      return send(res, 202, '');
    }
    if (req.method === 'PUT') {
      parts.push(body);
      const all = Buffer.concat(parts);
      const digest = url.searchParams.get('digest') ?? '';
      if (sha(all) !== digest) return send(res, 400, '{"errors":[{"code":"DIGEST_INVALID"}]}');
      blobs.set(digest, all);
      link(repo, digest);
      uploads.delete(ref);
      return send(res, 201, '');
    }
    return send(res, 405, '');
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => void handler(req, res).catch(() => res.destroy());
  const server: Server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, listener) : createHttpServer(listener);
  let notHttp = 0;
  server.on('clientError', (_e, socket) => {
    notHttp++;
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    host, blobs, links, manifests, log, notHttp: () => notHttp,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

function send(res: ServerResponse, status: number, body: string | Buffer, length?: number): void {
  res.statusCode = status;
  if (length !== undefined) res.setHeader('content-length', String(length));
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A CA and a server certificate for 127.0.0.1, made with the openssl CLI into `dir`. */
export function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const run = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  };
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=imgpack test CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  const ext = `${dir}/ext.cnf`;
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', ext);
  return { ca: `${dir}/ca.crt`, cert: `${dir}/server.crt`, key: `${dir}/server.key` };
}
