/**
 * `imgpack serve` with real clients: skopeo (inspect, copy, and a push that lands in the store),
 * podman pull, docker 26 pull (a private dockerd from ../shared/tools/realtools), and TLS with a
 * CA and a server certificate made with the openssl CLI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { REALTOOLS, realToolsAvailable } from '../helpers/realtools.js';
import { startServeProcess, type ServeProcess } from '../helpers/serve.js';
import { makeCertificates } from '../helpers/fake-registry.js';
import { requireSharedInCi, SHARED, sharedAvailable } from '../helpers/shared.js';
import { runProcess } from '../helpers/spawn.js';

requireSharedInCi();
const available = sharedAvailable() && realToolsAvailable();
if (!available && process.env.CI === 'true') throw new Error('the real tools are not installed: .ci/run runs ../shared/tools/realtools/install.sh first');

const F = (p: string) => resolve(SHARED, 'fixtures/realtools', p);
const work = join(tmpdir(), `imgpack-serve-${process.pid}`);
const store = join(work, 'store');
const APP_ID = 'sha256:348deefea9a456fb33953caa6882b44baab9d496c6ffade030baff7a63659560';
const servers: ServeProcess[] = [];
const dockerImages: string[] = [];

/** A command of ../shared/tools/realtools/lib.sh (rt_podman, rt_docker...), bounded in time. */
function rt(script: string, timeout = 300_000) {
  const r = spawnSync('bash', ['-c', `source "${REALTOOLS}/lib.sh"; ${script}`], { encoding: 'utf8', timeout, env: { ...process.env, RT_NO_NS: '1' } });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}
const skopeo = (...args: string[]) => {
  const r = spawnSync('skopeo', args, { encoding: 'utf8', timeout: 180_000, env: { ...process.env, TMPDIR: join(work, 'tmp') } });
  return { code: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
};
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** The digest index.json names `name` with: a manifest's, or a multi-platform index's. */
const storeDigest = async (s: string, name: string) => (JSON.parse(readFileSync(join(s, 'index.json'), 'utf8')).manifests as { digest: string; annotations?: Record<string, string> }[]).find((d) => d.annotations?.['io.containerd.image.name'] === name)?.digest;

afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const img of dockerImages) rt(`rt_docker modern rmi -f ${q(img)} >/dev/null 2>&1`, 60_000);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!available)('imgpack serve with real clients', () => {
  let serve: ServeProcess;
  beforeAll(async () => {
    mkdirSync(join(work, 'tmp'), { recursive: true });
    const load = await runCli('--store', store, 'load', '-i', F('docker-legacy/multi.tar'), '-i', F('buildah/multiarch.oci.tar'));
    expect(load.code, load.stderr).toBe(0);
    serve = await startServeProcess(['--store', store]);
    servers.push(serve);
  });

  it('skopeo inspects and copies from it: the store\'s digests, a multi-arch index whole', async () => {
    const inspect = skopeo('inspect', '--tls-verify=false', `docker://${serve.address}/imgpack/app:1`);
    expect(inspect.code, inspect.out).toBe(0);
    const doc = JSON.parse(inspect.stdout);
    expect(doc.Digest).toBe(await storeDigest(store, 'docker.io/imgpack/app:1'));
    expect(doc.RepoTags.sort()).toEqual(['1', 'latest']);
    const oci = join(work, 'skopeo-oci');
    const copy = skopeo('copy', '-q', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${serve.address}/imgpack/multi:list`, `oci:${oci}:multi`);
    expect(copy.code, copy.out).toBe(0);
    const copied = (await runCli('inspect', oci, '--json')).json();
    const original = (await runCli('--store', store, 'inspect', 'store:', '--json')).json();
    const multiIndex = original.indexes.map((i: { digest: string }) => i.digest);
    expect(copied.indexes.map((i: { digest: string }) => i.digest).filter((d: string) => multiIndex.includes(d))).toHaveLength(1);
    expect(copied.images.map((i: { id: string }) => i.id.slice(7, 19)).sort()).toEqual(['3f08b1abf752', '4485807840ac', 'd665e71fa20e']);
  });

  it('podman pulls from it (--tls-verify=false)', () => {
    const ps = join(work, 'podman');
    const pull = rt(`rt_podman ${q(ps)} pull -q --tls-verify=false ${q(`${serve.address}/imgpack/app:1`)}`);
    expect(pull.code, pull.out).toBe(0);
    const images = rt(`rt_podman ${q(ps)} images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}'`);
    expect(images.stdout).toContain(`${APP_ID.slice(7)} ${serve.address}/imgpack/app:1`);
  });

  it('docker 26 pulls an image and a multi-platform index from it (loopback is insecure-allowed)', async () => {
    expect(spawnSync('bash', [resolve(REALTOOLS, 'start-dockerd.sh'), 'modern'], { timeout: 300_000 }).status).toBe(0);
    for (const ref of [`${serve.address}/imgpack/app:1`, `${serve.address}/imgpack/multi:list`]) {
      dockerImages.push(ref);
      const pull = rt(`rt_docker modern pull -q ${q(ref)}`);
      expect(pull.code, pull.out).toBe(0);
    }
    const app = rt(`rt_docker modern image inspect --format '{{.Id}} {{json .RepoDigests}}' ${q(`${serve.address}/imgpack/app:1`)}`);
    expect(app.stdout.startsWith(`${APP_ID} [`), app.out).toBe(true);
    expect(app.stdout).toContain(`"${serve.address}/imgpack/app@${await storeDigest(store, 'docker.io/imgpack/app:1')}"`);
    const multi = rt(`rt_docker modern image inspect --format '{{json .RepoDigests}}' ${q(`${serve.address}/imgpack/multi:list`)}`);
    expect(multi.stdout).toContain(`"${serve.address}/imgpack/multi@${await storeDigest(store, 'docker.io/imgpack/multi:list')}"`);
    expect(await serve.waitForLog(/docker\/26/)).toMatch(/"(GET|HEAD) \/v2\/imgpack\/app\/manifests\/1" 200 .*docker\/26/);
  });

  it('docker 26 with the containerd image store (containerd resolves and fetches) pulls from it', async () => {
    expect(spawnSync('bash', [resolve(REALTOOLS, 'start-dockerd.sh'), 'containerd'], { timeout: 300_000 }).status).toBe(0);
    const ref = `${serve.address}/imgpack/multi:list`;
    const pull = rt(`rt_docker containerd pull -q ${q(ref)}`);
    expect(pull.code, pull.out).toBe(0);
    // In the containerd store an image's ID is the digest of what was pulled: here the index.
    const id = rt(`rt_docker containerd image inspect --format '{{.Id}}' ${q(ref)}`);
    expect(id.stdout.trim()).toBe(await storeDigest(store, 'docker.io/imgpack/multi:list'));
    rt(`rt_docker containerd rmi -f ${q(ref)} >/dev/null 2>&1`, 60_000);
  });

  it('containerd (ctr: the resolver Kubernetes nodes use through CRI) pulls from it, directly and as a docker.io / quay.io mirror (hosts.toml)', async () => {
    // A private containerd 1.6 (Debian's), its socket and state under the test's folder.
    const ctrd = join(work, 'containerd');
    mkdirSync(join(ctrd, 'certs.d', 'docker.io'), { recursive: true });
    mkdirSync(join(ctrd, 'certs.d', 'quay.io'), { recursive: true });
    const sock = join(ctrd, 'containerd.sock');
    writeFileSync(join(ctrd, 'config.toml'), `version = 2\nroot = "${ctrd}/root"\nstate = "${ctrd}/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${sock}"\n`);
    const daemon = spawn('containerd', ['--config', join(ctrd, 'config.toml')], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 40 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 250));
      const ctr = (...args: string[]) => spawnSync('ctr', ['--address', sock, ...args], { encoding: 'utf8', timeout: 120_000 });
      const direct = ctr('images', 'pull', '--plain-http', '--all-platforms', `${serve.address}/imgpack/multi:list`);
      expect(direct.status, direct.stderr).toBe(0);
      // As a mirror: the names users pull stay docker.io/... and quay.io/...; containerd asks serve.
      for (const upstream of ['docker.io', 'quay.io']) {
        writeFileSync(join(ctrd, 'certs.d', upstream, 'hosts.toml'), `server = "https://${upstream}"\n[host."http://${serve.address}"]\n  capabilities = ["pull", "resolve"]\n`);
      }
      expect((await runCli('--store', store, 'tag', 'store:', 'imgpack/app:1', 'quay.io/team/app:1')).code).toBe(0);
      for (const ref of ['docker.io/imgpack/app:1', 'quay.io/team/app:1']) {
        const viaMirror = ctr('images', 'pull', '--hosts-dir', join(ctrd, 'certs.d'), ref);
        expect(viaMirror.status, `${ref}: ${viaMirror.stderr}`).toBe(0);
      }
      const list = ctr('images', 'ls').stdout;
      const digestOf = (ref: string) => list.split('\n').find((l) => l.startsWith(`${ref} `))?.split(/\s+/)[2];
      expect(digestOf(`${serve.address}/imgpack/multi:list`)).toBe(await storeDigest(store, 'docker.io/imgpack/multi:list'));
      expect(digestOf('docker.io/imgpack/app:1')).toBe(await storeDigest(store, 'docker.io/imgpack/app:1'));
      expect(digestOf('quay.io/team/app:1')).toBe(await storeDigest(store, 'quay.io/team/app:1'));
    } finally {
      daemon.kill('SIGTERM');
      await new Promise<void>((r) => { if (daemon.exitCode !== null) r(); else daemon.once('exit', () => r()); });
    }
  });

  it('a push by skopeo (and by docker 26) lands in an empty store: imgpack images shows it, verify passes; --read-only refuses it', async () => {
    const empty = join(work, 'store-push');
    const target = await startServeProcess(['--store', empty]);
    servers.push(target);
    const one = skopeo('copy', '-q', '--dest-tls-verify=false', `docker-archive:${F('docker-legacy/app.tar')}`, `docker://${target.address}/skopeo/app:1`);
    expect(one.code, one.out).toBe(0);
    const multi = skopeo('copy', '-q', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci-archive:${F('buildah/multiarch.oci.tar')}`, `docker://${target.address}/quay.io/skopeo/multi:list`);
    expect(multi.code, multi.out).toBe(0);
    expect(await target.waitForLog(/PUT \/v2\/skopeo\/app\/blobs\/uploads/)).toMatch(/"PUT \/v2\/skopeo\/app\/blobs\/uploads\/[^ ?]+\?digest=sha256(:|%3A)[0-9a-f]{64}" 201/);
    const images = (await runCli('--store', empty, 'images', '--json')).json().images as { name: string; id: string }[];
    expect(images.filter((i) => i.name === 'docker.io/skopeo/app:1').map((i) => i.id)).toEqual([APP_ID]);
    expect(images.filter((i) => i.name === 'quay.io/skopeo/multi:list').map((i) => i.id.slice(7, 19)).sort()).toEqual(['3f08b1abf752', '4485807840ac', 'd665e71fa20e']);
    expect(images.filter((i) => !i.name)).toEqual([]); // children pushed by digest are named through their index now
    const verify = await runCli('--store', empty, 'verify', 'store:');
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const back = skopeo('inspect', '--tls-verify=false', `docker://${target.address}/skopeo/app:1`);
    expect(JSON.parse(back.stdout).Digest).toBe(await storeDigest(empty, 'docker.io/skopeo/app:1'));

    // docker 26 pushes too (chunked PATCH uploads), from the image it pulled from the first serve.
    const pushed = `${target.address}/dockerpush/app:1`;
    dockerImages.push(`${serve.address}/imgpack/app:1`, pushed);
    const push = rt(`rt_docker modern pull -q ${q(`${serve.address}/imgpack/app:1`)} && rt_docker modern tag ${q(`${serve.address}/imgpack/app:1`)} ${q(pushed)} && rt_docker modern push ${q(pushed)}`);
    expect(push.code, push.out).toBe(0);
    const afterDocker = (await runCli('--store', empty, 'images', '--json')).json().images as { name: string; id: string }[];
    expect(afterDocker.filter((i) => i.name === 'docker.io/dockerpush/app:1').map((i) => i.id)).toEqual([APP_ID]);
    expect((await runCli('--store', empty, 'verify', 'store:')).code).toBe(0);

    const ro = await startServeProcess(['--store', empty], ['--read-only']);
    servers.push(ro);
    const refused = skopeo('copy', '-q', '--dest-tls-verify=false', `docker-archive:${F('docker-legacy/app.tar')}`, `docker://${ro.address}/skopeo/ro:1`);
    expect(refused.code).not.toBe(0);
    expect(await ro.waitForLog(/ 405 /)).toMatch(/"(POST|HEAD|PUT) \/v2\/skopeo\/ro\/[^"]*" 405/);
  });

  it('serves TLS with a certificate from the openssl CLI: skopeo with the CA, imgpack pull with it, refused without', async () => {
    const tls = join(work, 'tls');
    const certs = join(tls, 'certs.d');
    mkdirSync(certs, { recursive: true });
    makeCertificates(tls); // ca.crt, server.crt, server.key, by the openssl CLI
    writeFileSync(join(certs, 'ca.crt'), readFileSync(join(tls, 'ca.crt')));
    const secure = await startServeProcess(['--store', store], ['--read-only', '--tls-cert', join(tls, 'server.crt'), '--tls-key', join(tls, 'server.key')]);
    servers.push(secure);
    expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = skopeo('inspect', '--cert-dir', certs, `docker://${secure.address}/imgpack/app:1`);
    expect(ok.code, ok.out).toBe(0);
    expect(JSON.parse(ok.stdout).Digest).toBe(await storeDigest(store, 'docker.io/imgpack/app:1'));
    const copy = skopeo('copy', '-q', '--src-cert-dir', certs, `docker://${secure.address}/imgpack/app:1`, `oci:${join(work, 'tls-oci')}:app`);
    expect(copy.code, copy.out).toBe(0);
    const untrusted = skopeo('inspect', `docker://${secure.address}/imgpack/app:1`);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.out).toMatch(/certificate|x509/i);
    const out = join(work, 'tls-pulled.tar');
    const pulled = runProcess(['--ca-file', join(tls, 'ca.crt'), 'pull', `${secure.address}/imgpack/app:1`, '-o', out], { IMGPACK_PLAIN_HTTP: '' });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((await runCli('inspect', out, '--json')).json().images[0].id).toBe(APP_ID);
  });
});
