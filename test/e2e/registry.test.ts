/**
 * The registry client against a small fake registry on 127.0.0.1 (plain HTTP, as docker allows
 * for loopback): bearer-token auth from the WWW-Authenticate challenge, a 500 then success, and
 * a blob whose bytes do not match its digest (refused, nothing written).
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
const img = await buildImage({ layers: [{ files: { hello: 'world' } }, { files: { more: 'data' }, compression: 'gzip' }] });
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
let server: Server;
let port = 0;
let failuresLeft = 0;
let corrupt = false;
const seen: string[] = [];

beforeAll(async () => {
  const blobs = new Map<string, Buffer>([[img.config.digest, img.config.data], ...img.layers.map((l) => [l.digest, l.data] as [string, Buffer])]);
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    if (req.url?.startsWith('/token')) {
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ token: 'T0K3N' }));
    }
    if (req.headers.authorization !== 'Bearer T0K3N') {
      res.statusCode = 401;
      res.setHeader('www-authenticate', `Bearer realm="http://127.0.0.1:${port}/token",service="fake",scope="repository:team/app:pull"`);
      return res.end();
    }
    if (failuresLeft > 0) {
      failuresLeft--;
      res.statusCode = 500;
      return res.end();
    }
    const m = /^\/v2\/team\/app\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '');
    if (m?.[1] === 'manifests' && (m[2] === '1' || m[2] === img.manifest.digest)) {
      res.setHeader('content-type', img.manifest.mediaType);
      return res.end(img.manifest.data);
    }
    const blob = m?.[1] === 'blobs' ? blobs.get(m[2]) : undefined;
    if (blob) {
      const out = corrupt && m![2] === img.layers[0].digest ? Buffer.from(blob).fill(0x41, 0, 10) : blob;
      return res.end(out);
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('pulling from a registry', () => {
  it('follows the bearer-token challenge and checks every digest', async () => {
    const out = join(dir, 'pulled.tar');
    const r = await runCli('pull', `127.0.0.1:${port}/team/app:1`, '-o', out, '--format', 'oci-archive');
    expect(r.code, r.stderr).toBe(0);
    const doc = (await runCli('inspect', out, '--json')).json();
    expect(doc.images.map((i: { id: string; repoTags: string[] }) => [i.id, i.repoTags])).toEqual([[img.config.digest, [`127.0.0.1:${port}/team/app:1`]]]);
    expect(doc.images[0].manifestDigests).toEqual([img.manifest.digest]);
    expect(seen.some((s) => s.includes('/token'))).toBe(true);
    expect((await runCli('verify', out)).code).toBe(0);
    expect(sha(img.manifest.data)).toBe(img.manifest.digest);
  });

  it('retries a 500, and refuses a blob whose bytes do not match its digest', async () => {
    failuresLeft = 2;
    const ok = await runCli('pull', `127.0.0.1:${port}/team/app:1`, '-o', join(dir, 'retried.tar'));
    expect(ok.code, ok.stderr).toBe(0);
    corrupt = true;
    const bad = join(dir, 'bad.tar');
    const r = await runCli('pull', `127.0.0.1:${port}/team/app:1`, '-o', bad);
    corrupt = false;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^imgpack: blob from the registry has digest sha256:[0-9a-f]{64} \\(\\d+ bytes\\), not ${img.layers[0].digest} .*: refused`));
    expect(existsSync(bad)).toBe(false);
  });

  it('an unreachable registry is an environment error (exit 2) naming it', async () => {
    const r = await runCli('pull', '127.0.0.1:9/team/app:1', '-o', join(dir, 'never.tar'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^imgpack: cannot reach the registry: .*\(127\.0\.0\.1:9\)\n$/);
  });
});

describe('login and logout', () => {
  it('checks the credentials against the registry, then writes docker config.json as docker login does', async () => {
    let basic = '';
    const s = createServer((req, res) => {
      if (req.headers.authorization === `Basic ${Buffer.from('alice:s3cret').toString('base64')}`) {
        basic = req.headers.authorization;
        return res.end('{}');
      }
      res.statusCode = 401;
      res.setHeader('www-authenticate', 'Basic realm="fake"');
      res.end();
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const reg = `127.0.0.1:${(s.address() as { port: number }).port}`;
    const config = join(dir, 'docker-config');
    const prev = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = config;
    try {
      const bad = await runCli('login', reg, '-u', 'alice', '-p', 'wrong');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toBe(`imgpack: the registry refused the credentials (${reg})\n`);
      expect(existsSync(join(config, 'config.json'))).toBe(false);
      const ok = await runCli('login', reg, '-u', 'alice', '-p', 's3cret');
      expect(ok.code, ok.stderr).toBe(0);
      expect(basic).not.toBe('');
      const saved = JSON.parse((await import('node:fs')).readFileSync(join(config, 'config.json'), 'utf8'));
      expect(saved.auths[reg].auth).toBe(Buffer.from('alice:s3cret').toString('base64'));
      expect((await runCli('logout', reg)).stdout).toBe(`Removing login credentials for ${reg}\n`);
      // podman's auth.json is read too ($REGISTRY_AUTH_FILE)
      const authFile = join(dir, 'auth.json');
      (await import('node:fs')).writeFileSync(authFile, JSON.stringify({ auths: { [reg]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
      process.env.REGISTRY_AUTH_FILE = authFile;
      basic = '';
      const { RegistryClient } = await import('../../src/formats/registry/client.js');
      const { parseReference } = await import('../../src/model/reference.js');
      await new RegistryClient(parseReference(`${reg}/library/x`)).ping();
      expect(basic).not.toBe('');
    } finally {
      delete process.env.REGISTRY_AUTH_FILE;
      if (prev === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = prev;
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});
