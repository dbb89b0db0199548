/**
 * docker's credential file: $DOCKER_CONFIG/config.json, else ~/.docker/config.json, `auths`
 * keyed by registry (docker.io as https://index.docker.io/v1/), base64 `user:password`. login and
 * logout change only their entry, atomically; everything else in the file is kept.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomically } from '../../io/atomic.js';

export function dockerConfigPath(): string {
  return join(process.env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

export function authKey(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' || registry === 'registry-1.docker.io' ? 'https://index.docker.io/v1/' : registry;
}

function readConfig(): Record<string, unknown> & { auths?: Record<string, { auth?: string }> } {
  const path = dockerConfigPath();
  if (!existsSync(path)) return {};
  return JSON.parse(readFileSync(path, 'utf8'));
}

export function saveCredentials(registry: string, user: string, password: string): string {
  const cfg = readConfig();
  cfg.auths = { ...(cfg.auths ?? {}), [authKey(registry)]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } };
  const path = dockerConfigPath();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomically(path, JSON.stringify(cfg, null, '\t') + '\n');
  return path;
}

export function removeCredentials(registry: string): boolean {
  const cfg = readConfig();
  const key = authKey(registry);
  if (!cfg.auths?.[key]) return false;
  delete cfg.auths[key];
  writeFileAtomically(dockerConfigPath(), JSON.stringify(cfg, null, '\t') + '\n');
  return true;
}
