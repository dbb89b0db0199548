/**
 * Where registry credentials come from, in docker's order: config.json's `credHelpers[host]`,
 * then its `credsStore` (both run `docker-credential-NAME get`), then its `auths` (base64
 * `auth`, or an `identitytoken`), then podman's auth.json ($REGISTRY_AUTH_FILE, else
 * $XDG_RUNTIME_DIR/containers/auth.json).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { usage } from '../../errors.js';

export interface Credentials {
  /** base64 `user:password`, for Basic auth and for the token service. */
  basic?: string;
  /** An OAuth2 refresh token (docker's identitytoken), exchanged at the token service. */
  identityToken?: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

function readAuthFile(path: string): AuthFile | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as AuthFile;
  } catch {
    return undefined; // absent or unreadable: the next source, else anonymous
  }
}

/** The keys docker uses for a registry in `auths` and for its credential helpers. */
function keysFor(host: string, domain: string): string[] {
  return domain === 'docker.io' ? ['https://index.docker.io/v1/', 'docker.io', 'index.docker.io', 'registry-1.docker.io'] : [host, domain, `https://${host}`, `http://${host}`];
}

export function credentialsFor(host: string, domain: string): Credentials | undefined {
  const keys = keysFor(host, domain);
  const docker = readAuthFile(join(process.env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json'));
  if (docker) {
    const helper = keys.map((k) => docker.credHelpers?.[k]).find(Boolean) ?? docker.credsStore;
    if (helper) {
      const fromHelper = askHelper(helper, keys[0]);
      if (fromHelper) return fromHelper;
    }
    const found = fromAuths(docker, keys);
    if (found) return found;
  }
  const podmanFiles = [process.env.REGISTRY_AUTH_FILE, process.env.XDG_RUNTIME_DIR ? join(process.env.XDG_RUNTIME_DIR, 'containers', 'auth.json') : undefined];
  for (const file of podmanFiles) {
    const found = file ? fromAuths(readAuthFile(file) ?? {}, keys) : undefined;
    if (found) return found;
  }
  return undefined;
}

function fromAuths(file: AuthFile, keys: string[]): Credentials | undefined {
  for (const k of keys) {
    const entry = file.auths?.[k];
    if (entry?.identitytoken) return { identityToken: entry.identitytoken, basic: entry.auth };
    if (entry?.auth) return { basic: entry.auth };
  }
  return undefined;
}

/**
 * docker's credential-helper protocol: `docker-credential-NAME get`, the server on stdin, JSON
 * {Username, Secret} on stdout; Username "<token>" means Secret is an identity token. A helper
 * that is not installed, or knows nothing of the server, gives no credentials.
 */
function askHelper(name: string, server: string): Credentials | undefined {
  if (!/^[\w.-]+$/.test(name)) throw usage('bad-credential-helper', 'a credential helper name is a plain word', name);
  const r = spawnSync(`docker-credential-${name}`, ['get'], { input: server, encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return undefined;
  try {
    const { Username, Secret } = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
    if (!Secret) return undefined;
    if (Username === '<token>') return { identityToken: Secret };
    return { basic: Buffer.from(`${Username ?? ''}:${Secret}`).toString('base64') };
  } catch {
    return undefined;
  }
}
