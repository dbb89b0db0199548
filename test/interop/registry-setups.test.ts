/**
 * imgpack against the real distribution registry in the set-ups users run: TLS with a private CA,
 * htpasswd Basic auth, and token auth (a Docker-token-spec issuer written for the tests). Each
 * set-up: login (wrong credentials refused, clearly), push, pull back with identical digests,
 * skopeo agrees on what is there.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { realToolsAvailable } from '../helpers/realtools.js';
import { SHARED, sharedAvailable } from '../helpers/shared.js';

const available = sharedAvailable() && realToolsAvailable() && spawnSync('sh', ['-c', 'command -v docker-registry']).status === 0;
const work = join(tmpdir(), `imgpack-registry-setups-${process.pid}`);
const fixture = resolve(SHARED, 'fixtures/realtools/docker-legacy/app.tar'); // one image, imgpack/app:1
const APP_ID = 'sha256:348deefea9a456fb33953caa6882b44baab9d496c6ffade030baff7a63659560';
/** Async: the token issuer answers from this very process, so a blocking spawnSync would deadlock. */
const skopeo = (...args: string[]) => new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
  execFile('skopeo', args, { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => done({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
});
let running: Distribution | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  delete process.env.DOCKER_CONFIG;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Push the fixture, pull it back, and compare with what skopeo reads from the registry. */
async function roundTrip(reg: Distribution, global: string[], skopeoAuth: string[]) {
  const pushed = await runCli(...global, 'push', fixture, '--to', `${reg.host}/setup`, '--json');
  expect(pushed.code, pushed.stderr).toBe(0);
  expect(pushed.json().pushed[0].names).toEqual([`${reg.host}/setup/imgpack/app:1`]);
  const out = join(work, `${reg.host.replace(':', '_')}.tar`);
  const pulled = await runCli(...global, 'pull', `${reg.host}/setup/imgpack/app:1`, '-o', out);
  expect(pulled.code, pulled.stderr).toBe(0);
  const img = (await runCli('inspect', out, '--json')).json().images[0];
  expect(img.id).toBe(APP_ID);
  const remote = await skopeo('inspect', ...skopeoAuth, `docker://${reg.host}/setup/imgpack/app:1`);
  expect(remote.status, remote.stderr).toBe(0);
  expect(img.manifestDigests).toEqual([JSON.parse(remote.stdout).Digest]);
  const again = (await runCli(...global, 'push', fixture, '--to', `${reg.host}/setup`, '--json')).json().pushed;
  expect(again[0].uploaded).toBe(0);
}

describe.skipIf(!available)('the real distribution registry', () => {
  it('TLS with a private CA: refused without it, trusted with --ca-file and certs.d', async () => {
    const reg = (running = await startDistribution(join(work, 'tls'), { tls: true }));
    const refused = await runCli('pull', `${reg.host}/setup/imgpack/app:1`, '-o', join(work, 'no.tar'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/TLS certificate is not trusted/);
    const certDir = join(work, 'tls-certs');
    mkdirSync(certDir, { recursive: true });
    spawnSync('cp', [reg.ca!, join(certDir, 'ca.crt')]);
    await roundTrip(reg, ['--ca-file', reg.ca!], [`--cert-dir=${certDir}`]);
    // docker's certs.d layout, as a user would set it up
    process.env.IMGPACK_CERTS_D = join(work, 'certs.d');
    mkdirSync(join(work, 'certs.d', reg.host), { recursive: true });
    spawnSync('cp', [reg.ca!, join(work, 'certs.d', reg.host, 'ca.crt')]);
    try {
      expect((await runCli('pull', `${reg.host}/setup/imgpack/app:1`, '-o', join(work, 'certsd.tar'))).code).toBe(0);
    } finally {
      delete process.env.IMGPACK_CERTS_D;
    }
  });

  it('htpasswd Basic auth: login checks the password, then push and pull use it', async () => {
    const reg = (running = await startDistribution(join(work, 'htpasswd'), { htpasswd: 'alice:s3cret' }));
    process.env.DOCKER_CONFIG = join(work, 'htpasswd-docker');
    const anonymous = await runCli('push', fixture, '--to', `${reg.host}/setup`);
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toBe(`imgpack: the registry needs credentials (docker login, or imgpack login) (${reg.host})\n`);
    const wrong = await runCli('login', reg.host, '-u', 'alice', '-p', 'nope');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe(`imgpack: the registry refused the credentials (${reg.host})\n`);
    expect((await runCli('login', reg.host, '-u', 'alice', '-p', 's3cret')).code).toBe(0);
    await roundTrip(reg, [], ['--tls-verify=false', '--creds=alice:s3cret']);
  });

  it('token auth (Docker token spec): push and pull with a bearer token; wrong credentials refused', async () => {
    const reg = (running = await startDistribution(join(work, 'token'), { token: 'bob:t0ken-pw' }));
    process.env.DOCKER_CONFIG = join(work, 'token-docker');
    const wrong = await runCli('login', reg.host, '-u', 'bob', '-p', 'nope');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe(`imgpack: the token service refused the credentials (401) (${reg.host})\n`);
    expect((await runCli('login', reg.host, '-u', 'bob', '-p', 't0ken-pw')).code).toBe(0);
    await roundTrip(reg, [], ['--tls-verify=false', '--creds=bob:t0ken-pw']);
  });
});
