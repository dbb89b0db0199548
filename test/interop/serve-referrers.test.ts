/**
 * Real supply-chain clients against `imgpack serve`: cosign 2.5 signs and attests (its tag scheme
 * `sha256-<hex>.sig/.att`, and the OCI 1.1 referrers API with --registry-referrers-mode=oci-1-1)
 * and verifies offline with a key pair; oras 1.2 attaches an SBOM (through the referrers API,
 * which serve answers with OCI-Subject) and discovers it. Both read back what they wrote.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startServeProcess, type ServeProcess } from '../helpers/serve.js';

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const available = have('cosign') && have('oras');
if (!available && process.env.CI === 'true') throw new Error('cosign and oras are not installed: .ci/run runs ../shared/tools/realtools/install.sh first');

const work = join(tmpdir(), `imgpack-serve-referrers-${process.pid}`);
const store = join(work, 'store');
let serve: ServeProcess;

function tool(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, COSIGN_PASSWORD: '', HOME: work, DOCKER_CONFIG: join(work, 'docker') } });
  return { code: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!available)('cosign and oras against imgpack serve', () => {
  let image = '';
  let digest = '';
  beforeAll(async () => {
    mkdirSync(work, { recursive: true });
    serve = await startServeProcess(['--store', store]);
    const push = await runCli('push', resolve('samples/tool.oci.tar'), '--to', `${serve.address}/sc`, '--json');
    expect(push.code, push.stderr).toBe(0);
    const head = await fetch(`${serve.url}/v2/sc/imgpack/tool/manifests/2`, { method: 'HEAD' });
    digest = head.headers.get('docker-content-digest')!;
    image = `${serve.address}/sc/imgpack/tool@${digest}`;
    expect(tool('cosign', ['generate-key-pair']).code).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('cosign signs with its tag scheme and verifies offline with the key; a wrong key is refused', () => {
    const sign = tool('cosign', ['sign', '--key', 'cosign.key', '--tlog-upload=false', '--allow-insecure-registry', '-y', image]);
    expect(sign.code, sign.out).toBe(0);
    const verify = tool('cosign', ['verify', '--key', 'cosign.pub', '--insecure-ignore-tlog', '--allow-insecure-registry', image]);
    expect(verify.code, verify.out).toBe(0);
    expect(JSON.parse(verify.stdout)[0].critical.image['docker-manifest-digest']).toBe(digest);
    mkdirSync(join(work, 'other'), { recursive: true });
    spawnSync('cosign', ['generate-key-pair'], { cwd: join(work, 'other'), env: { ...process.env, COSIGN_PASSWORD: '' } });
    expect(tool('cosign', ['verify', '--key', 'other/cosign.pub', '--insecure-ignore-tlog', '--allow-insecure-registry', image]).code).not.toBe(0);
  });

  it('cosign attests and verifies the attestation', () => {
    writeFileSync(join(work, 'sbom.spdx.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'tool' }));
    const attest = tool('cosign', ['attest', '--key', 'cosign.key', '--type', 'spdxjson', '--predicate', 'sbom.spdx.json', '--tlog-upload=false', '--allow-insecure-registry', '-y', image]);
    expect(attest.code, attest.out).toBe(0);
    const verify = tool('cosign', ['verify-attestation', '--key', 'cosign.pub', '--type', 'spdxjson', '--insecure-ignore-tlog', '--allow-insecure-registry', image]);
    expect(verify.code, verify.out).toBe(0);
  });

  it('cosign in OCI 1.1 mode signs through the referrers API and verifies from it', () => {
    const env = { COSIGN_EXPERIMENTAL: '1' };
    const run = (args: string[]) => {
      const r = spawnSync('cosign', args, { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env, COSIGN_PASSWORD: '', HOME: work } });
      return { code: r.status, out: `${r.stdout}${r.stderr}` };
    };
    const sign = run(['sign', '--key', 'cosign.key', '--tlog-upload=false', '--allow-insecure-registry', '-y', '--registry-referrers-mode=oci-1-1', image]);
    expect(sign.code, sign.out).toBe(0);
    const verify = run(['verify', '--key', 'cosign.pub', '--insecure-ignore-tlog', '--allow-insecure-registry', '--experimental-oci11', image]);
    expect(verify.code, verify.out).toBe(0);
  });

  it('oras attaches an SBOM through the referrers API and discovers it, filtered by artifact type', async () => {
    writeFileSync(join(work, 'sbom.json'), '{"bomFormat":"CycloneDX"}');
    const attach = tool('oras', ['attach', '--plain-http', '--artifact-type', 'application/vnd.cyclonedx+json', image, 'sbom.json']);
    expect(attach.code, attach.out).toBe(0);
    const discover = tool('oras', ['discover', '--plain-http', '--format', 'json', '--artifact-type', 'application/vnd.cyclonedx+json', image]);
    expect(discover.code, discover.out).toBe(0);
    const found = JSON.parse(discover.stdout).manifests as { artifactType: string }[];
    expect(found.map((m) => m.artifactType)).toEqual(['application/vnd.cyclonedx+json']);
    const tags = (await (await fetch(`${serve.url}/v2/sc/imgpack/tool/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).not.toContain(`sha256-${digest.slice(7)}`); // no fallback tag: serve has the API
    expect((await runCli('--store', store, 'verify', 'store:')).code).toBe(0);
  });
});
