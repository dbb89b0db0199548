/**
 * A small OCI distribution client: manifests and blobs by digest, docker's reference defaults
 * (docker.io -> registry-1.docker.io), anonymous, Basic and Bearer-token auth from the
 * WWW-Authenticate challenge, credentials from docker's config.json, retries on 5xx, 429 and
 * reset connections. TLS by default; plain HTTP for loopback registries (as docker allows), or
 * when asked.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { usage, invalid } from '../../errors.js';
import { formatFull, type Reference } from '../../model/reference.js';

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export function registryHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

function isLoopback(host: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host);
}

/**
 * Credentials, base64 `user:password`: docker's config.json ($DOCKER_CONFIG, else ~/.docker),
 * then podman's auth.json ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json).
 */
function credentialsFor(host: string, domain: string): string | undefined {
  const files = [
    join(process.env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json'),
    process.env.REGISTRY_AUTH_FILE,
    process.env.XDG_RUNTIME_DIR ? join(process.env.XDG_RUNTIME_DIR, 'containers', 'auth.json') : undefined,
  ].filter((f): f is string => !!f);
  const keys = domain === 'docker.io' ? ['https://index.docker.io/v1/', 'docker.io', 'index.docker.io'] : [host, domain, `https://${host}`];
  for (const file of files) {
    try {
      const cfg = JSON.parse(readFileSync(file, 'utf8')) as { auths?: Record<string, { auth?: string }> };
      for (const k of keys) if (cfg.auths?.[k]?.auth) return cfg.auths[k].auth;
    } catch {
      // absent or unreadable: try the next file, else anonymous
    }
  }
  return undefined;
}

export class RegistryClient {
  private token?: string;
  private readonly push: boolean;
  private scheme: 'https' | 'http';
  readonly host: string;

  /** base64 `user:password` to use instead of docker's config.json (login tries them first). */
  private readonly credentials?: string;

  constructor(readonly ref: Reference, opts: { plainHttp?: boolean; push?: boolean; credentials?: string } = {}) {
    this.push = !!opts.push;
    this.credentials = opts.credentials;
    this.host = registryHost(ref.domain);
    this.scheme = opts.plainHttp || process.env.IMGPACK_PLAIN_HTTP === '1' ? 'http' : 'https';
  }

  private url(path: string): string {
    return `${this.scheme}://${this.host}/v2/${this.ref.path}/${path}`;
  }

  /** GET with auth, retries and the loopback http fallback; the response must be 2xx. */
  async get(path: string, accept?: string): Promise<Response> {
    return this.request('GET', path, { accept });
  }

  /**
   * One request with auth (a 401 answers with a challenge, then we retry), retries on 5xx, 429
   * and reset connections (bodies that are streams are sent once: no retry), the loopback http
   * fallback. `ok` lists the statuses the caller handles itself (e.g. 404 for HEAD).
   */
  async request(method: string, path: string, opts: { accept?: string; headers?: Record<string, string>; body?: Buffer | (() => AsyncIterable<Uint8Array>); absolute?: boolean; ok?: number[] } = {}, attempt = 0): Promise<Response> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.accept) headers.Accept = opts.accept;
    if (this.token) headers.Authorization = this.token;
    const url = opts.absolute ? path : this.url(path);
    let res: Response;
    try {
      const body = typeof opts.body === 'function' ? Readable.toWeb(Readable.from(opts.body())) : opts.body;
      res = await fetch(url, { method, headers, body: body as BodyInit | undefined, redirect: 'follow', ...(typeof opts.body === 'function' ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (e) {
      if ((e as { code?: string }).code === 'IMGPACK' || (e as Error).name === 'ImgpackError') throw e;
      const cause = (e as { cause?: Error }).cause;
      if (cause && cause.name === 'ImgpackError') throw cause;
      if (this.scheme === 'https' && isLoopback(this.host) && !opts.absolute) {
        this.scheme = 'http'; // docker treats loopback registries as insecure: plain http allowed
        return this.request(method, path, opts, attempt);
      }
      if (attempt < 3 && typeof opts.body !== 'function') {
        await sleep(200 * 2 ** attempt);
        return this.request(method, path, opts, attempt + 1);
      }
      throw usage('registry-unreachable', `cannot reach the registry: ${(cause ?? (e as Error)).message}`, this.host);
    }
    if (opts.ok?.includes(res.status)) return res;
    if (res.status === 401 && attempt < 2) {
      await this.authenticate(res.headers.get('www-authenticate') ?? '');
      if (typeof opts.body === 'function' && attempt > 0) throw usage('registry-denied', 'the registry refused the upload', this.host);
      return this.request(method, path, opts, attempt + 1);
    }
    if ((res.status >= 500 || res.status === 429) && attempt < 3 && typeof opts.body !== 'function') {
      const wait = Number(res.headers.get('retry-after')) * 1000 || 200 * 2 ** attempt;
      await sleep(Math.min(wait, 10_000));
      return this.request(method, path, opts, attempt + 1);
    }
    if (res.status === 401 || res.status === 403) throw usage('registry-denied', `the registry refused the credentials (${res.status})`, this.host);
    if (res.status === 404) throw invalid('registry-not-found', `not found in the registry: ${path}`, formatFull(this.ref));
    if (!res.ok) throw usage('registry-error', `the registry answered ${res.status} for ${method} ${path.split('?')[0]}: ${(await res.text().catch(() => '')).slice(0, 200)}`, this.host);
    return res;
  }

  /** GET /v2/ with the credentials: whether the registry accepts them (login checks this). */
  async ping(): Promise<void> {
    const res = await fetch(`${this.scheme}://${this.host}/v2/`).catch(async (e) => {
      if (this.scheme === 'https' && isLoopback(this.host)) {
        this.scheme = 'http';
        return fetch(`${this.scheme}://${this.host}/v2/`);
      }
      throw usage('registry-unreachable', `cannot reach the registry: ${(e as Error).message}`, this.host);
    });
    if (res.status === 401) {
      await this.authenticate(res.headers.get('www-authenticate') ?? '');
      const again = await fetch(`${this.scheme}://${this.host}/v2/`, { headers: this.token ? { Authorization: this.token } : {} });
      if (again.status === 401 || again.status === 403) throw usage('registry-denied', 'the registry refused the credentials', this.host);
    }
  }

  /** The absolute URL of an upload location the registry gave (it may be relative). */
  resolveLocation(location: string): string {
    return new URL(location, `${this.scheme}://${this.host}/`).toString();
  }

  private async authenticate(challenge: string): Promise<void> {
    const creds = this.credentials ?? credentialsFor(this.host, this.ref.domain);
    const scheme = challenge.split(' ')[0]?.toLowerCase();
    if (scheme === 'basic') {
      if (!creds) throw usage('registry-denied', 'the registry needs credentials (docker login, or imgpack login)', this.host);
      this.token = `Basic ${creds}`;
      return;
    }
    if (scheme !== 'bearer') throw usage('registry-denied', `unsupported authentication challenge "${challenge}"`, this.host);
    const params = Object.fromEntries([...challenge.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!params.realm) throw usage('registry-denied', 'the registry\'s token challenge has no realm', this.host);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${this.ref.path}:${this.push ? 'pull,push' : 'pull'}`);
    const res = await fetch(url, { headers: creds ? { Authorization: `Basic ${creds}` } : {} });
    if (!res.ok) throw usage('registry-denied', `the token service refused (${res.status})`, url.host);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw usage('registry-denied', 'the token service gave no token', url.host);
    this.token = `Bearer ${token}`;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
