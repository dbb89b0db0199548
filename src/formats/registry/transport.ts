/**
 * HTTP for the registry client, on node:http and node:https rather than fetch: a registry with a
 * private CA (`--ca-file`, docker's /etc/docker/certs.d/HOST[:PORT]/*.crt, client certificates
 * as *.cert + *.key there), `--insecure`, request bodies streamed with a Content-Length, and a
 * response body that fails loudly when the connection closes mid-blob all need the lower layer.
 */
import http from 'node:http';
import https from 'node:https';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { Readable } from 'node:stream';
import { usage } from '../../errors.js';
import { cancelSignal } from '../../io/cancel.js';
import { registrySettings, settingsGeneration } from './settings.js';

export { configureRegistries, registrySettings } from './settings.js';

/** docker's certs.d, then containers' (podman, skopeo); IMGPACK_CERTS_D replaces both (tests). */
function certsDirs(host: string): string[] {
  const roots = process.env.IMGPACK_CERTS_D ? [process.env.IMGPACK_CERTS_D] : ['/etc/docker/certs.d', '/etc/containers/certs.d'];
  return roots.map((r) => join(r, host)).filter((d) => existsSync(d));
}

function tlsOptionsFor(host: string): https.AgentOptions {
  const ca: Buffer[] = [];
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  const settings = registrySettings();
  for (const file of settings.caFiles) {
    try {
      ca.push(readFileSync(file));
    } catch {
      throw usage('bad-ca-file', 'cannot read the CA file', file);
    }
  }
  for (const dir of certsDirs(host)) {
    for (const f of readdirSync(dir).sort()) {
      if (f.endsWith('.crt')) ca.push(readFileSync(join(dir, f)));
      else if (f.endsWith('.cert')) cert = readFileSync(join(dir, f));
      else if (f.endsWith('.key')) key = readFileSync(join(dir, f));
    }
  }
  const opts: https.AgentOptions = { rejectUnauthorized: !settings.insecure };
  // Extra roots are added to Node's own, as docker adds certs.d roots to the system pool.
  if (ca.length) opts.ca = [...rootCertificates, ...ca.map((b) => b.toString('utf8'))];
  if (cert && key) Object.assign(opts, { cert, key });
  return opts;
}


const agents = new Map<string, http.Agent>();
let agentsGeneration = -1;

function agentFor(url: URL): http.Agent {
  if (agentsGeneration !== settingsGeneration()) {
    for (const a of agents.values()) a.destroy();
    agents.clear();
    agentsGeneration = settingsGeneration();
  }
  const key = `${url.protocol}//${url.host}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = url.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, maxSockets: 8, ...tlsOptionsFor(url.host) })
      : new http.Agent({ keepAlive: true, maxSockets: 8 });
    agents.set(key, agent);
  }
  return agent;
}

export interface HttpResponse {
  status: number;
  /** The URL that answered, after redirects. */
  url: string;
  header(name: string): string | null;
  /** The body as a stream; it errors if the connection closes before Content-Length bytes. */
  body: Readable;
  buffer(): Promise<Buffer>;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
  /** Reads and drops the body, so that the connection can be reused. */
  discard(): Promise<void>;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** A buffer, or a function giving the bytes of a body sent with the given Content-Length. */
  body?: Buffer | (() => AsyncIterable<Uint8Array>);
  /** Not cut short by a signal (io/cancel.ts): the last small steps of a push, once begun. */
  uninterruptible?: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * One request; GET and HEAD follow redirects (blob downloads are often redirected to storage),
 * dropping the Authorization header when the redirect leaves the registry's origin.
 */
export async function send(req: HttpRequest, hops = 0): Promise<HttpResponse> {
  const url = new URL(req.url);
  const res = await once(url, req);
  const location = res.headers.location;
  if (location && REDIRECTS.has(res.statusCode ?? 0) && (req.method === 'GET' || req.method === 'HEAD') && hops < 5) {
    res.resume();
    const next = new URL(location, url);
    const headers = { ...(req.headers ?? {}) };
    if (next.origin !== url.origin) delete headers.Authorization;
    return send({ ...req, url: next.toString(), headers }, hops + 1);
  }
  return wrap(res, url.toString());
}

function once(url: URL, req: HttpRequest): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { 'User-Agent': 'imgpack', ...(req.headers ?? {}) };
    if (Buffer.isBuffer(req.body)) headers['Content-Length'] = String(req.body.length);
    const r = mod.request(url, { method: req.method, headers, agent: agentFor(url), signal: req.uninterruptible ? undefined : cancelSignal }, resolve);
    r.on('error', reject);
    if (req.body === undefined) {
      r.end();
    } else if (Buffer.isBuffer(req.body)) {
      r.end(req.body);
    } else {
      const body = Readable.from(req.body());
      body.on('error', (e) => r.destroy(e));
      body.pipe(r);
    }
  });
}

function wrap(res: http.IncomingMessage, url: string): HttpResponse {
  const expected = Number(res.headers['content-length']);
  let seen = 0;
  res.on('data', (c: Buffer) => { seen += c.length; });
  // Node ends a response cut short by a closed connection with 'aborted'/'error' only sometimes:
  // check the length ourselves, so that a truncated blob is never taken for a whole one.
  res.on('end', () => {
    if (Number.isFinite(expected) && seen < expected) res.destroy(Object.assign(new Error(`connection closed after ${seen} of ${expected} bytes`), { code: 'ECONNRESET' }));
  });
  const body = res;
  const buffer = async () => {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  return {
    status: res.statusCode ?? 0,
    url,
    header: (name) => {
      const v = res.headers[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    },
    body,
    buffer,
    text: async () => (await buffer()).toString('utf8'),
    json: async <T>() => JSON.parse((await buffer()).toString('utf8')) as T,
    discard: async () => {
      res.resume();
      await new Promise<void>((r) => { res.on('end', r); res.on('close', r); res.on('error', () => r()); });
    },
  };
}

const CERTIFICATE_ERRORS = ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_NOT_YET_VALID'];

/** An untrusted certificate stays untrusted: no point in trying again. */
export function isCertificateError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return !!code && CERTIFICATE_ERRORS.includes(code);
}

/** TLS failures get a message that says what to do about them. */
export function describeNetworkError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (isCertificateError(e)) {
    return `the registry's TLS certificate is not trusted (${err.code}): give its CA with --ca-file or in /etc/docker/certs.d/HOST:PORT/ca.crt, or use --insecure`;
  }
  if (err?.code === 'EPROTO' || /wrong version number|packet length too long/i.test(err?.message ?? '')) {
    return 'the registry does not speak TLS on this port: use --plain-http';
  }
  return err?.message ?? String(e);
}
