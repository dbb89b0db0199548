/**
 * The registry client against the in-memory fake registry (test/helpers/fake-registry.ts): TLS
 * with a private CA (--ca-file, certs.d, --insecure), credential helpers and identity tokens,
 * pushes (concurrent, chunked, mounted across repositories, retried), and faults: a connection
 * closed mid-blob, 429 with Retry-After, a 500 during an upload, wrong credentials.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, tarBuffer, type BuiltImage } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { makeCertificates, startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const base = { files: { 'etc/os-release': 'ID=base\n', big: randomBytes(3 << 20).toString('base64') } };
const app = await buildImage({ names: ['team/app:1'], layers: [base, { files: { app: 'v1' } }] }, 'docker');
const tool = await buildImage({ names: ['team/tool:1'], layers: [base, { files: { tool: 'v1' } }] }, 'docker');
const archive = writeTemp(dir, 'both.tar', await tarBuffer(dockerArchiveEntries([app, tool])));
let registry: FakeRegistry | undefined;
afterEach(async () => {
  await registry?.close();
  registry = undefined;
  for (const k of ['DOCKER_CONFIG', 'IMGPACK_CERTS_D']) delete process.env[k];
});

/** Puts an image into the fake registry as a push would. */
function seed(reg: FakeRegistry, repo: string, tag: string, img: BuiltImage) {
  for (const b of [img.config, ...img.layers]) {
    reg.blobs.set(b.digest, b.data);
    reg.links.set(repo, (reg.links.get(repo) ?? new Set()).add(b.digest));
  }
  const entry = { mediaType: img.manifest.mediaType, data: img.manifest.data };
  reg.manifests.set(repo, new Map([[tag, entry], [img.manifest.digest, entry]]));
}

const pulledId = async (out: string) => (await runCli('inspect', out, '--json')).json().images[0].id;

describe('TLS with a private CA', () => {
  let certs: { ca: string; cert: string; key: string };
  beforeAll(() => {
    const d = join(dir, 'certs');
    mkdirSync(d, { recursive: true });
    certs = makeCertificates(d);
  });

  it('refuses an untrusted certificate with a hint, and trusts --ca-file, certs.d or --insecure', async () => {
    const { readFileSync } = await import('node:fs');
    registry = await startFakeRegistry({ tls: { key: readFileSync(certs.key), cert: readFileSync(certs.cert) } });
    seed(registry, 'team/app', '1', app);
    // 127.0.0.1 is loopback, so it would fall back to http on a TLS *protocol* error; a
    // certificate error is not one: it must be reported.
    const refused = await runCli('pull', `${registry.host}/team/app:1`, '-o', join(dir, 'x.tar'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^imgpack: cannot reach the registry: the registry's TLS certificate is not trusted \(\w+\): give its CA with --ca-file .*\(127\.0\.0\.1:\d+\)\n$/);

    const viaFlag = join(dir, 'tls-flag.tar');
    expect((await runCli('--ca-file', certs.ca, 'pull', `${registry.host}/team/app:1`, '-o', viaFlag)).code).toBe(0);
    expect(await pulledId(viaFlag)).toBe(app.config.digest);

    process.env.IMGPACK_CERTS_D = join(dir, 'certs.d');
    mkdirSync(join(dir, 'certs.d', registry.host), { recursive: true });
    writeFileSync(join(dir, 'certs.d', registry.host, 'ca.crt'), readFileSync(certs.ca));
    const viaCertsD = await runCli('pull', `${registry.host}/team/app:1`, '-o', join(dir, 'tls-certsd.tar'));
    expect(viaCertsD.code, viaCertsD.stderr).toBe(0);
    delete process.env.IMGPACK_CERTS_D;

    expect((await runCli('--insecure', 'pull', `${registry.host}/team/app:1`, '-o', join(dir, 'tls-insecure.tar'))).code).toBe(0);
    expect(registry.log.some((l) => l.startsWith('GET /v2/team/app/blobs/'))).toBe(true);
  });
});

describe('credentials', () => {
  it('come from a docker credential helper (credsStore)', async () => {
    registry = await startFakeRegistry({ auth: 'basic', user: 'ci:helper-secret' });
    seed(registry, 'team/app', '1', app);
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-imgpacktest');
    writeFileSync(helper, `#!/bin/sh\nread server\n[ "$1" = get ] && [ "$server" = "${registry.host}" ] && echo '{"ServerURL":"'$server'","Username":"ci","Secret":"helper-secret"}' && exit 0\necho "credentials not found in native keychain"; exit 1\n`);
    chmodSync(helper, 0o755);
    process.env.DOCKER_CONFIG = join(dir, 'helper-config');
    mkdirSync(process.env.DOCKER_CONFIG, { recursive: true });
    writeFileSync(join(process.env.DOCKER_CONFIG, 'config.json'), JSON.stringify({ credsStore: 'imgpacktest' }));
    const prevPath = process.env.PATH;
    process.env.PATH = `${bin}:${prevPath}`;
    try {
      const r = await runCli('pull', `${registry.host}/team/app:1`, '-o', join(dir, 'helper.tar'));
      expect(r.code, r.stderr).toBe(0);
    } finally {
      process.env.PATH = prevPath;
    }
  });

  it('an identitytoken is exchanged at the token service (OAuth2 refresh grant)', async () => {
    registry = await startFakeRegistry({ auth: 'bearer', user: 'nobody:never' });
    seed(registry, 'team/app', '1', app);
    process.env.DOCKER_CONFIG = join(dir, 'token-config');
    mkdirSync(process.env.DOCKER_CONFIG, { recursive: true });
    writeFileSync(join(process.env.DOCKER_CONFIG, 'config.json'), JSON.stringify({ auths: { [registry.host]: { identitytoken: 'REFRESH-ME' } } }));
    const r = await runCli('pull', `${registry.host}/team/app:1`, '-o', join(dir, 'idtoken.tar'));
    expect(r.code, r.stderr).toBe(0);
    expect(registry.log).toContain('POST /token');
  });

  it('wrong credentials are an environment error naming the registry', async () => {
    registry = await startFakeRegistry({ auth: 'basic', user: 'ci:right' });
    process.env.DOCKER_CONFIG = join(dir, 'wrong-config');
    mkdirSync(process.env.DOCKER_CONFIG, { recursive: true });
    writeFileSync(join(process.env.DOCKER_CONFIG, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('ci:wrong').toString('base64') } } }));
    const r = await runCli('push', archive, '--to', registry.host);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`imgpack: the registry refused the credentials (401) (${registry.host})\n`);
  });
});

describe('pushing', () => {
  it('uploads once, mounts shared blobs into the next repository, and a rerun uploads nothing', async () => {
    registry = await startFakeRegistry({ auth: 'bearer' });
    const first = await runCli('push', archive, '--to', `${registry.host}/mirror`, '--json');
    expect(first.code, first.stderr).toBe(0);
    const pushed = first.json().pushed as { repository: string; uploaded: number; mounted: number; present: number }[];
    expect(pushed.map((p) => p.repository)).toEqual([`${registry.host}/mirror/team/app`, `${registry.host}/mirror/team/tool`]);
    expect(pushed[0]).toMatchObject({ uploaded: 3, mounted: 0 }); // config, base layer, app layer
    expect(pushed[1]).toMatchObject({ uploaded: 2, mounted: 1 }); // tool's config and layer; the base mounted
    expect(registry.log.some((l) => /^POST \/v2\/mirror\/team\/tool\/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=mirror%2Fteam%2Fapp$/.test(l))).toBe(true);
    expect(registry.manifests.get('mirror/team/app')?.has('1')).toBe(true);
    const again = (await runCli('push', archive, '--to', `${registry.host}/mirror`, '--json')).json().pushed as { uploaded: number }[];
    expect(again.map((p) => p.uploaded)).toEqual([0, 0]);
    const back = join(dir, 'pushed-back.tar');
    expect((await runCli('pull', `${registry.host}/mirror/team/tool:1`, '-o', back)).code).toBe(0);
    expect(await pulledId(back)).toBe(tool.config.digest);
  });

  it('--chunk-size sends big blobs in PATCH chunks', async () => {
    registry = await startFakeRegistry();
    const r = await runCli('copy', archive, '--image', 'team/app:1', `docker://${registry.host}/chunked/app:7`, '--chunk-size', '1M');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Pushed: 127\.0\.0\.1:\d+\/chunked\/app:7 \(3 blobs uploaded/);
    expect(registry.log.filter((l) => l.startsWith('PATCH')).length).toBeGreaterThanOrEqual(4); // the 4 MB base layer
    expect(registry.blobs.get(app.layers[0].digest)?.equals(app.layers[0].data)).toBe(true);
  });

  it('an upload answered 500 is retried from the start', async () => {
    let failed = 0;
    registry = await startFakeRegistry({
      fault: (req, res) => {
        if (req.method === 'PUT' && req.url?.includes('/blobs/uploads/') && failed < 2) {
          failed++;
          req.resume();
          res.statusCode = 500;
          res.end();
          return true;
        }
        return false;
      },
    });
    const r = await runCli('convert', archive, '--image', 'team/app:1', '-o', `docker://${registry.host}/retry/app:1`);
    expect(r.code, r.stderr).toBe(0);
    expect(failed).toBe(2);
    expect(registry.manifests.get('retry/app')?.has('1')).toBe(true);
  });
});

describe('pull faults', () => {
  it('a connection closed mid-blob is resumed with a Range request; 429 waits for Retry-After', async () => {
    let cut = false;
    let limited = false;
    registry = await startFakeRegistry({
      fault: (req, res) => {
        if (!limited && req.url?.includes('/manifests/')) {
          limited = true;
          res.statusCode = 429;
          res.setHeader('retry-after', '1');
          res.end();
          return true;
        }
        if (!cut && req.method === 'GET' && req.url?.endsWith(app.layers[0].digest)) {
          cut = true;
          const data = app.layers[0].data;
          res.writeHead(200, { 'content-length': String(data.length) });
          res.write(data.subarray(0, 1 << 20), () => res.destroy());
          return true;
        }
        return false;
      },
    });
    seed(registry, 'team/app', '1', app);
    const out = join(dir, 'resumed.tar');
    const r = await runCli('pull', `${registry.host}/team/app:1`, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(cut && limited).toBe(true);
    expect(await pulledId(out)).toBe(app.config.digest);
    expect((await runCli('verify', out)).code).toBe(0);
  });

  it('a manifest over the JSON limit is refused, naming the limit', async () => {
    registry = await startFakeRegistry();
    seed(registry, 'team/app', '1', app);
    process.env.IMGPACK_MAX_JSON = '100';
    try {
      const r = await runCli('pull', `${registry.host}/team/app:1`, '-o', join(dir, 'huge.tar'));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^imgpack: the registry sent a manifest larger than 100 bytes \(IMGPACK_MAX_JSON\): refused \(127\.0\.0\.1:\d+\/team\/app:1@1\)\n$/);
    } finally {
      delete process.env.IMGPACK_MAX_JSON;
    }
  });

  it('a rerun after a failed pull fetches only what is missing', async () => {
    process.env.IMGPACK_CACHE = join(dir, 'cache');
    let down = true;
    registry = await startFakeRegistry({
      fault: (req, res) => {
        // The app layer cannot be had on the first run: 503 for good (the retries give up).
        if (down && req.url?.endsWith(app.layers[1].digest)) {
          res.statusCode = 503;
          res.end();
          return true;
        }
        return false;
      },
    });
    seed(registry, 'team/app', '1', app);
    try {
      const out = join(dir, 'rerun.tar');
      const first = await runCli('pull', `${registry.host}/team/app:1`, '-o', out);
      expect(first.code).toBe(2);
      expect(registry.log.filter((l) => l.endsWith(app.layers[0].digest))).toHaveLength(1); // the 4 MB base arrived
      down = false;
      const second = await runCli('pull', `${registry.host}/team/app:1`, '-o', out);
      expect(second.code, second.stderr).toBe(0);
      expect(registry.log.filter((l) => l.endsWith(app.layers[0].digest))).toHaveLength(1); // not fetched again
      expect(await pulledId(out)).toBe(app.config.digest);
      const { readdirSync } = await import('node:fs');
      expect(readdirSync(join(dir, 'cache', 'pulls'))).toEqual([]); // the finished pull's downloads are gone
    } finally {
      delete process.env.IMGPACK_CACHE;
    }
  });

  it('a rerun resumes a blob the failed run left half downloaded (Range), checking the whole', async () => {
    process.env.IMGPACK_CACHE = join(dir, 'cache-half');
    let cutting = true;
    registry = await startFakeRegistry({
      fault: (req, res) => {
        // The first run gets the base layer's first MB and then a dead connection, every time.
        if (cutting && req.url?.endsWith(app.layers[0].digest)) {
          const data = app.layers[0].data;
          res.writeHead(200, { 'content-length': String(data.length) });
          res.write(data.subarray(0, 1 << 20), () => res.destroy());
          return true;
        }
        return false;
      },
    });
    seed(registry, 'team/app', '1', app);
    try {
      const out = join(dir, 'half.tar');
      expect((await runCli('pull', `${registry.host}/team/app:1`, '-o', out)).code).toBe(2);
      cutting = false;
      const second = await runCli('pull', `${registry.host}/team/app:1`, '-o', out);
      expect(second.code, second.stderr).toBe(0);
      expect(registry.log.filter((l) => l.endsWith(app.layers[0].digest)).length).toBeGreaterThan(1);
      expect(await pulledId(out)).toBe(app.config.digest);
    } finally {
      delete process.env.IMGPACK_CACHE;
    }
  });
});

describe('pull stopped between a download and its rename', () => {
  it('a .part that holds the whole blob is checked and kept, not asked for again (a Range past its end is a 416)', async () => {
    const cache = join(dir, 'cache-whole-part');
    process.env.IMGPACK_CACHE = cache;
    let down = true;
    registry = await startFakeRegistry({
      fault: (req, res) => {
        if (down && req.url?.endsWith(app.layers[1].digest)) {
          res.statusCode = 503;
          res.end();
          return true;
        }
        return false;
      },
    });
    seed(registry, 'team/app', '1', app);
    try {
      const out = join(dir, 'whole-part.tar');
      expect((await runCli('pull', `${registry.host}/team/app:1`, '-o', out)).code).toBe(2);
      // As a signal between the last byte and the rename leaves it: the whole blob, still a .part.
      const { readdirSync, renameSync } = await import('node:fs');
      const [folder] = readdirSync(join(cache, 'pulls'));
      const blob = join(cache, 'pulls', folder, 'blobs', 'sha256', app.layers[0].digest.slice(7));
      renameSync(blob, `${blob}.part`);
      down = false;
      const second = await runCli('pull', `${registry.host}/team/app:1`, '-o', out);
      expect(second.code, second.stderr).toBe(0);
      expect(registry.log.filter((l) => l.endsWith(app.layers[0].digest))).toHaveLength(1); // not fetched again
      expect(await pulledId(out)).toBe(app.config.digest);
    } finally {
      delete process.env.IMGPACK_CACHE;
    }
  });
});
