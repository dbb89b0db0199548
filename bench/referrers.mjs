#!/usr/bin/env node
/**
 * `npm run bench:referrers`: what fetching an image's signatures, attestations and SBOMs costs in
 * round trips (issue 14: at most 3 extra per image with 3 referrers). imgpack serve holds
 * samples/tool.oci.tar with three referrers (a cosign-style signature under its
 * sha256-<hex>.sig tag, and two OCI 1.1 referrers with a subject); a loopback proxy adds
 * LATENCY_MS to every request, so that the extra time of `pull` over `pull --no-referrers`,
 * divided by the latency, is the number of sequential round trips the referrers add.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const imgpack = join(root, 'bin/imgpack.cjs');
const latency = Number(process.env.LATENCY_MS || 50);
const reps = Number(process.env.BENCH_REPS || 5);
const work = mkdtempSync(join(tmpdir(), 'imgpack-bench-referrers-'));
const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const serve = spawn('node', [imgpack, '--store', join(work, 'store'), 'serve', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
const origin = await new Promise((resolve) => {
  let text = '';
  serve.stderr.on('data', (d) => { text += d; const m = /on (http:\/\/\S+)/.exec(text); if (m) resolve(m[1]); });
});
const host = origin.replace('http://', '');
const run = (args) => spawnSync('node', [imgpack, ...args], { encoding: 'utf8', env: { ...process.env, IMGPACK_PLAIN_HTTP: '1' } });
const pushed = run(['push', join(root, 'samples/tool.oci.tar'), '--replace-prefix', `quay.io/imgpack/=${host}/bench/`]);
if (pushed.status !== 0) throw new Error(pushed.stderr);
const head = await fetch(`${origin}/v2/bench/tool/manifests/2`, { method: 'HEAD' });
const subject = head.headers.get('docker-content-digest');

async function putBlob(data) {
  const digest = sha(data);
  await fetch(`${origin}/v2/bench/tool/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
  return { digest, size: data.length };
}
async function putArtifact(reference, type, text, withSubject) {
  const config = await putBlob(Buffer.from('{}'));
  const layer = await putBlob(Buffer.from(text));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: type,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', ...config }, layers: [{ mediaType: type, ...layer }],
    ...(withSubject ? { subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: 1 } } : {}),
  }));
  await fetch(`${origin}/v2/bench/tool/manifests/${reference ?? sha(manifest)}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
}
await putArtifact(`${subject.replace(':', '-')}.sig`, 'application/vnd.dev.cosign.simplesigning.v1+json', 'signature', false);
await putArtifact(undefined, 'application/spdx+json', 'sbom', true);
await putArtifact(undefined, 'application/vnd.in-toto+json', 'provenance', true);

// The proxy: every request waits LATENCY_MS before it is passed on.
const proxy = createServer((req, res) => setTimeout(() => {
  const up = request(`${origin}${req.url}`, { method: req.method, headers: req.headers }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
  req.pipe(up);
}, latency));
await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
const via = `127.0.0.1:${proxy.address().port}`;

async function time(args) {
  const runs = [];
  for (let i = 0; i < reps; i++) {
    rmSync(join(work, 'out'), { recursive: true, force: true });
    const t = process.hrtime.bigint();
    const child = spawn('node', [imgpack, '--store', join(work, 'out'), 'pull', `${via}/bench/tool:2`, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, IMGPACK_PLAIN_HTTP: '1' } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const code = await new Promise((r) => child.on('exit', r));
    if (code !== 0) throw new Error(`pull ${args.join(' ')} failed`);
    runs.push({ s: Number(process.hrtime.bigint() - t) / 1e9, out });
  }
  runs.sort((a, b) => a.s - b.s);
  return runs[Math.floor(runs.length / 2)];
}
const bare = await time(['--no-referrers']);
const full = await time([]);
const extra = (full.s - bare.s) / (latency / 1000);
console.log(`| pull of samples/tool.oci.tar with ${latency} ms per request | seconds |`);
console.log('|---|---|');
console.log(`| --no-referrers | ${bare.s.toFixed(3)} |`);
console.log(`| with its 3 referrers (${full.out.match(/with (\d+) attached/)?.[1] ?? 0} attached) | ${full.s.toFixed(3)} |`);
console.log(`\nextra sequential round trips: ${extra.toFixed(1)} (target: at most 3)`);
proxy.close();
serve.kill('SIGTERM');
rmSync(work, { recursive: true, force: true });
if (extra > 3.5) process.exitCode = 1;
