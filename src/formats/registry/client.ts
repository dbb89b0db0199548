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

/** `auths` of docker's config.json ($DOCKER_CONFIG, else ~/.docker): base64 user:password. */
function credentialsFor(host: string, domain: string): string | undefined {
  const dir = process.env.DOCKER_CONFIG || join(homedir(), '.docker');
  try {
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { auths?: Record<string, { auth?: string }> };
    const keys = domain === 'docker.io' ? ['https://index.docker.io/v1/', 'docker.io', 'index.docker.io'] : [host, domain, `https://${host}`];
    for (const k of keys) if (cfg.auths?.[k]?.auth) return cfg.auths[k].auth;
  } catch {
    // no config: anonymous
  }
  return undefined;
}

export class RegistryClient {
  private token?: string;
  private scheme: 'https' | 'http';
  readonly host: string;

  constructor(readonly ref: Reference, opts: { plainHttp?: boolean } = {}) {
    this.host = registryHost(ref.domain);
    this.scheme = opts.plainHttp || process.env.IMGPACK_PLAIN_HTTP === '1' ? 'http' : 'https';
  }

  private url(path: string): string {
    return `${this.scheme}://${this.host}/v2/${this.ref.path}/${path}`;
  }

  /** GET with auth, retries and the loopback http fallback; the response must be 2xx. */
  async get(path: string, accept?: string, attempt = 0): Promise<Response> {
    const headers: Record<string, string> = {};
    if (accept) headers.Accept = accept;
    if (this.token) headers.Authorization = this.token;
    let res: Response;
    try {
      res = await fetch(this.url(path), { headers, redirect: 'follow' });
    } catch (e) {
      if (this.scheme === 'https' && isLoopback(this.host)) {
        this.scheme = 'http'; // docker treats loopback registries as insecure: plain http allowed
        return this.get(path, accept, attempt);
      }
      if (attempt < 3) {
        await sleep(200 * 2 ** attempt);
        return this.get(path, accept, attempt + 1);
      }
      throw usage('registry-unreachable', `cannot reach the registry: ${(e as Error).message}`, this.host);
    }
    if (res.status === 401 && attempt < 2) {
      await this.authenticate(res.headers.get('www-authenticate') ?? '');
      return this.get(path, accept, attempt + 1);
    }
    if ((res.status >= 500 || res.status === 429) && attempt < 3) {
      const wait = Number(res.headers.get('retry-after')) * 1000 || 200 * 2 ** attempt;
      await sleep(Math.min(wait, 10_000));
      return this.get(path, accept, attempt + 1);
    }
    if (res.status === 401 || res.status === 403) throw usage('registry-denied', `the registry refused the credentials (${res.status})`, this.host);
    if (res.status === 404) throw invalid('registry-not-found', `not found in the registry: ${path}`, formatFull(this.ref));
    if (!res.ok) throw usage('registry-error', `the registry answered ${res.status} for ${path}`, this.host);
    return res;
  }

  private async authenticate(challenge: string): Promise<void> {
    const creds = credentialsFor(this.host, this.ref.domain);
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
    url.searchParams.set('scope', params.scope ?? `repository:${this.ref.path}:pull`);
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
