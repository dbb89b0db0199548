/**
 * Signatures, attestations and SBOMs cross the gap with their image (issue 14, items 1-3): an
 * image in a real distribution 2.8 registry (no referrers API: oras keeps the fallback tag
 * sha256-<hex>) is signed and attested by cosign 2.5 and given an SBOM by oras 1.2; then
 * `imgpack pull -> save --volume-size -> load (another store) -> push` into a second registry,
 * where cosign verify, cosign verify-attestation and oras discover answer as on the first.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const available = have('cosign') && have('oras') && have('docker-registry');
if (!available && process.env.CI === 'true') throw new Error('cosign, oras and docker-registry are not installed: .ci/run runs ../shared/tools/realtools/install.sh first');

const work = join(tmpdir(), `imgpack-supply-chain-${process.pid}`);
const near = join(work, 'near-store');
const far = join(work, 'far-store');
let source: Distribution;
let target: Distribution;

function tool(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, COSIGN_PASSWORD: '', HOME: work } });
  return { code: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
}

/** What cosign and oras say about the image in one registry. */
function answers(host: string, digest: string) {
  const image = `${host}/team/tool@${digest}`;
  const verify = tool('cosign', ['verify', '--key', 'cosign.pub', '--insecure-ignore-tlog', '--allow-insecure-registry', image]);
  const attestation = tool('cosign', ['verify-attestation', '--key', 'cosign.pub', '--type', 'spdxjson', '--insecure-ignore-tlog', '--allow-insecure-registry', image]);
  const discover = tool('oras', ['discover', '--plain-http', '--format', 'json', image]);
  return {
    verify: verify.code === 0 ? JSON.parse(verify.stdout) : verify.out,
    attestation: attestation.code === 0 ? attestation.stdout.trim().split('\n').map((l) => JSON.parse(l).payload) : attestation.out,
    discover: discover.code === 0 ? (JSON.parse(discover.stdout).manifests as { digest: string; artifactType: string }[]).map((m) => [m.digest, m.artifactType]) : discover.out,
  };
}

describe.skipIf(!available)('signatures, attestations and SBOMs through pull, volumes, load and push', () => {
  let digest = '';
  beforeAll(async () => {
    mkdirSync(work, { recursive: true });
    source = await startDistribution(join(work, 'source'));
    target = await startDistribution(join(work, 'target'));
    const push = await runCli('push', resolve('samples/tool.oci.tar'), '--replace-prefix', `quay.io/imgpack/=${source.host}/team/`);
    expect(push.code, push.stderr).toBe(0);
    const head = await fetch(`http://${source.host}/v2/team/tool/manifests/2`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
    digest = head.headers.get('docker-content-digest')!;
    const image = `${source.host}/team/tool@${digest}`;
    expect(tool('cosign', ['generate-key-pair']).code).toBe(0);
    const sign = tool('cosign', ['sign', '--key', 'cosign.key', '--tlog-upload=false', '--allow-insecure-registry', '-y', image]);
    expect(sign.code, sign.out).toBe(0);
    writeFileSync(join(work, 'sbom.spdx.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'tool' }));
    expect(tool('cosign', ['attest', '--key', 'cosign.key', '--type', 'spdxjson', '--predicate', 'sbom.spdx.json', '--tlog-upload=false', '--allow-insecure-registry', '-y', image]).code).toBe(0);
    writeFileSync(join(work, 'sbom.cdx.json'), '{"bomFormat":"CycloneDX"}');
    const attach = tool('oras', ['attach', '--plain-http', '--artifact-type', 'application/vnd.cyclonedx+json', image, 'sbom.cdx.json']);
    expect(attach.code, attach.out).toBe(0);
  }, 180_000);
  afterAll(async () => {
    await source?.stop();
    await target?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('arrive on the far registry byte for byte: cosign and oras answer the same there', async () => {
    const ref = `${source.host}/team/tool:2`;
    const pull = await runCli('--store', near, 'pull', ref);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout).toContain('with 3 attached');
    const inspect = await runCli('--store', near, 'inspect', 'store:', '--json');
    const kinds = (inspect.json().artifacts as { kind: string }[]).map((a) => a.kind).sort();
    expect(kinds).toEqual(['attestation', 'referrer', 'signature']);

    const bundle = join(work, 'usb', 'bundle.tar');
    mkdirSync(join(work, 'usb'));
    expect((await runCli('--store', near, 'save', ref, '-o', bundle, '--volume-size', '1M')).code).toBe(0);
    // Checked offline on the far side, against the real cosign signature and attestation.
    const checked = await runCli('verify', `${bundle}.imgpack.json`, '--cosign-key', join(work, 'cosign.pub'), '--attestation-type', 'spdxjson');
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    expect(checked.stdout).toMatch(/cosign: .*team\/tool:2: signed by [0-9a-f]{16}; attested: https:\/\/spdx.dev\/Document/);
    mkdirSync(join(work, 'other'));
    spawnSync('cosign', ['generate-key-pair'], { cwd: join(work, 'other'), env: { ...process.env, COSIGN_PASSWORD: '' } });
    const refused = await runCli('--store', join(work, 'refusing'), 'load', '-i', `${bundle}.imgpack.json`, '--require-signed', join(work, 'other', 'cosign.pub'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is not validly signed: signature sha256:[0-9a-f]{12} does not verify with .*other\/cosign.pub; nothing was loaded/);
    const load = await runCli('--store', far, 'load', '-i', `${bundle}.imgpack.json`, '--require-signed', join(work, 'cosign.pub'));
    expect(load.code, load.stderr).toBe(0);
    const push = await runCli('--store', far, 'push', 'store:', '--replace-prefix', `${source.host}/team/=${target.host}/team/`, '--json');
    expect(push.code, push.stderr).toBe(0);
    expect(push.json().pushed[0].attached).toBe(3);

    const there = answers(source.host, digest);
    expect(typeof there.verify).not.toBe('string');
    expect(there.discover).toHaveLength(1);
    const here = answers(target.host, digest);
    expect(JSON.stringify(here.verify).replaceAll(target.host, source.host)).toBe(JSON.stringify(there.verify));
    expect(here.attestation).toEqual(there.attestation);
    expect(here.discover).toEqual(there.discover);
  });

  it('--no-referrers leaves them; --referrers-type keeps only that type; a docker-archive says how many it leaves out', async () => {
    const ref = `${source.host}/team/tool:2`;
    const none = await runCli('--store', join(work, 's1'), 'pull', ref, '--no-referrers');
    expect([none.code, none.stdout]).toEqual([0, `Pulled: ${ref}\n`]);
    const sigs = await runCli('--store', join(work, 's2'), 'pull', ref, '--referrers-type', 'application/vnd.dev.cosign.simplesigning.v1+json');
    expect(sigs.stdout).toContain('with 1 attached');
    const docker = await runCli('pull', ref, '-o', join(work, 'docker.tar'), '--format', 'docker-archive');
    expect(docker.code, docker.stderr).toBe(0);
    expect(docker.stderr).toContain('3 signatures, attestations or SBOMs left out: a docker-archive cannot hold them');
    expect(readFileSync(join(work, 'docker.tar')).length).toBeGreaterThan(0);
  });
});
