/**
 * A small OCI distribution client for one repository: docker's reference defaults (docker.io ->
 * registry-1.docker.io), anonymous, Basic and Bearer-token auth from the WWW-Authenticate
 * challenge (refreshed on a 401), credentials from docker's and podman's files and credential
 * helpers (auth-sources.ts), retries with backoff on 5xx, 429 (Retry-After) and reset
 * connections. TLS by default (transport.ts); plain HTTP when asked, and for loopback registries
 * that do not speak TLS, as docker allows.
 */
import { invalid, usage } from '../../errors.js';
import { sleep, throwIfCancelled } from '../../io/cancel.js';
import { formatFull, type Reference } from '../../model/reference.js';
import { credentialsFor, type Credentials } from './auth-sources.js';
import { describeNetworkError, isCertificateError, registrySettings, send, type HttpResponse } from './transport.js';
import { settingsGeneration } from './settings.js';

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const RETRIES = 4;

/**
 * Hosts found to speak plain HTTP: the next client for them starts there instead of failing a
 * TLS handshake first (a set of 50 images from a loopback registry made 100 such attempts).
 * Forgotten when the registry settings change.
 */
let plain = { generation: -1, hosts: new Set<string>() };
function plainHosts(): Set<string> {
  if (plain.generation !== settingsGeneration()) plain = { generation: settingsGeneration(), hosts: new Set() };
  return plain.hosts;
}

export function registryHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

function isLoopback(host: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host);
}

export interface ClientOptions {
  /** Ask for push rights as well as pull. */
  push?: boolean;
  /** Credentials to use instead of the configured ones (login checks them before saving). */
  credentials?: Credentials;
  /** Other repositories of the same registry the token must cover (cross-repository mounts). */
  alsoPullFrom?: string[];
}

export interface RequestOptions {
  accept?: string;
  headers?: Record<string, string>;
  /** A buffer, or a function giving the bytes (sent once: a failed streamed request is not retried here). */
  body?: Buffer | (() => AsyncIterable<Uint8Array>);
  /** `path` is a full URL (an upload location). */
  absolute?: boolean;
  /** Statuses the caller handles itself (e.g. 404 for HEAD). */
  ok?: number[];
  /** Carried through even after a signal (a push's tags, once the tag phase has begun). */
  uninterruptible?: boolean;
}

export class RegistryClient {
  readonly host: string;
  private authorization?: string;
  private scheme: 'https' | 'http';
  private readonly credentials?: Credentials;

  constructor(readonly ref: Reference, private readonly opts: ClientOptions = {}) {
    this.host = registryHost(ref.domain);
    this.scheme = registrySettings().plainHttp || plainHosts().has(this.host) ? 'http' : 'https';
    this.credentials = opts.credentials;
  }

  get origin(): string {
    return `${this.scheme}://${this.host}`;
  }

  private url(path: string): string {
    return `${this.origin}/v2/${this.ref.path}/${path}`;
  }

  /** GET with auth and retries; the response must be 2xx. */
  async get(path: string, accept?: string, headers?: Record<string, string>): Promise<HttpResponse> {
    return this.request('GET', path, { accept, headers });
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    const streamed = typeof opts.body === 'function';
    let authenticated = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.accept) headers.Accept = opts.accept;
      if (this.authorization) headers.Authorization = this.authorization;
      let res: HttpResponse;
      try {
        res = await send({ method, url: opts.absolute ? path : this.url(path), headers, body: opts.body, uninterruptible: opts.uninterruptible });
      } catch (e) {
        if (!opts.uninterruptible) throwIfCancelled(); // stopped: no retry, no fallback
        if (this.fallBackToHttp(e) && !opts.absolute) continue;
        if (!streamed && attempt < RETRIES && !isCertificateError(e)) {
          await backoff(attempt, opts.uninterruptible);
          continue;
        }
        throw usage('registry-unreachable', `cannot reach the registry: ${describeNetworkError(e)}`, this.host);
      }
      if (opts.ok?.includes(res.status)) return res;
      if (res.status === 401 && !authenticated) {
        // First challenge, or a token that expired: (re)authenticate once, then try again.
        await res.discard();
        await this.authenticate(res.header('www-authenticate') ?? '');
        authenticated = true;
        if (streamed) throw new RetryUpload();
        continue;
      }
      if ((res.status >= 500 || res.status === 429) && attempt < RETRIES && !streamed) {
        const retryAfter = Number(res.header('retry-after')) * 1000;
        await res.discard();
        await pause(Math.min(retryAfter || 200 * 2 ** attempt, 10_000), opts.uninterruptible);
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        await res.discard();
        throw usage('registry-denied', `the registry refused the credentials (${res.status})`, this.host);
      }
      if (res.status === 404) {
        await res.discard();
        throw invalid('registry-not-found', `not found in the registry: ${path.split('?')[0]}`, formatFull(this.ref));
      }
      if (res.status < 200 || res.status >= 300) {
        const text = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
        throw usage('registry-error', `the registry answered ${res.status} for ${method} ${path.split('?')[0]}: ${text}`, this.host);
      }
      return res;
    }
  }

  /** GET /v2/ with the credentials: whether the registry accepts them (login checks this). */
  async ping(): Promise<void> {
    let res = await this.getBase();
    if (res.status === 401) {
      await this.authenticate(res.header('www-authenticate') ?? '');
      res = await this.getBase();
    }
    if (res.status === 401 || res.status === 403) throw usage('registry-denied', 'the registry refused the credentials', this.host);
  }

  private async getBase(): Promise<HttpResponse> {
    for (;;) {
      try {
        const res = await send({ method: 'GET', url: `${this.origin}/v2/`, headers: this.authorization ? { Authorization: this.authorization } : {} });
        await res.discard();
        return res;
      } catch (e) {
        throwIfCancelled();
        if (!this.fallBackToHttp(e)) throw usage('registry-unreachable', `cannot reach the registry: ${describeNetworkError(e)}`, this.host);
      }
    }
  }

  /** The absolute URL of an upload location the registry gave (it may be relative). */
  resolveLocation(location: string): string {
    return new URL(location, `${this.origin}/`).toString();
  }

  /** docker treats loopback registries as insecure: a loopback one without TLS is spoken to in http. */
  private fallBackToHttp(e: unknown): boolean {
    if (this.scheme !== 'https' || !(isLoopback(this.host) || registrySettings().insecure)) return false;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPROTO' && code !== 'ECONNRESET' && !/wrong version number|packet length/i.test((e as Error).message)) return false;
    this.scheme = 'http';
    plainHosts().add(this.host);
    return true;
  }

  private async authenticate(challenge: string): Promise<void> {
    const creds = this.credentials ?? credentialsFor(this.host, this.ref.domain);
    const scheme = challenge.split(' ')[0]?.toLowerCase();
    if (scheme === 'basic') {
      if (!creds?.basic) throw usage('registry-denied', 'the registry needs credentials (docker login, or imgpack login)', this.host);
      this.authorization = `Basic ${creds.basic}`;
      return;
    }
    if (scheme !== 'bearer') throw usage('registry-denied', `unsupported authentication challenge "${challenge}"`, this.host);
    const params = Object.fromEntries([...challenge.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!params.realm) throw usage('registry-denied', 'the registry\'s token challenge has no realm', this.host);
    const scopes = [`repository:${this.ref.path}:${this.opts.push ? 'pull,push' : 'pull'}`, ...(this.opts.alsoPullFrom ?? []).map((r) => `repository:${r}:pull`)];
    if (params.scope && !scopes.includes(params.scope)) scopes.push(params.scope);
    const token = creds?.identityToken ? await this.refreshToken(params, scopes, creds.identityToken) : await this.fetchToken(params, scopes, creds?.basic);
    this.authorization = `Bearer ${token}`;
  }

  /** Docker token spec: GET realm?service=&scope= with Basic credentials when we have them. */
  private async fetchToken(params: Record<string, string>, scopes: string[], basic?: string): Promise<string> {
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    return this.tokenRequest({ method: 'GET', url: url.toString(), headers: basic ? { Authorization: `Basic ${basic}` } : {} }, url.host);
  }

  /** OAuth2 refresh-token grant, for docker's identitytoken. */
  private async refreshToken(params: Record<string, string>, scopes: string[], refresh: string): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: params.service ?? '', scope: scopes.join(' '), client_id: 'imgpack' });
    return this.tokenRequest({ method: 'POST', url: params.realm, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()) }, new URL(params.realm).host);
  }

  private async tokenRequest(req: Parameters<typeof send>[0], service: string): Promise<string> {
    let res: HttpResponse;
    try {
      res = await send(req);
    } catch (e) {
      throw usage('registry-unreachable', `cannot reach the token service: ${describeNetworkError(e)}`, service);
    }
    if (res.status === 401 || res.status === 403) {
      await res.discard();
      throw usage('registry-denied', `the token service refused the credentials (${res.status})`, this.host);
    }
    if (res.status < 200 || res.status >= 300) {
      await res.discard();
      throw usage('registry-denied', `the token service answered ${res.status}`, service);
    }
    let body: { token?: string; access_token?: string };
    try {
      body = JSON.parse(await res.text());
    } catch {
      throw usage('registry-denied', 'the token service did not answer JSON', service);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw usage('registry-denied', 'the token service gave no token', service);
    return token;
  }
}

/** A streamed upload met a fresh auth challenge: the caller starts it again with fresh bytes. */
export class RetryUpload extends Error {
  constructor() {
    super('the upload must be started again');
  }
}

function backoff(attempt: number, uninterruptible?: boolean): Promise<void> {
  return pause(200 * 2 ** attempt + Math.floor(Math.random() * 100), uninterruptible);
}

/** A wait that a signal cuts short, unless the request must go through. */
function pause(ms: number, uninterruptible?: boolean): Promise<void> {
  return uninterruptible ? new Promise((r) => setTimeout(r, ms)) : sleep(ms);
}

