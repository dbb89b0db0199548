/**
 * `imgpack serve`: the checks of the OCI distribution-spec conformance suite (pull, push,
 * content discovery), written as tests against a store loaded from built images; then imgpack's
 * own client against it (pull, copy, push), and the command itself as a process.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, ociEntries, sha256, tarBuffer } from '../../src/testing/build.js';
import { MediaType } from '../../src/model/media-types.js';
import { startServe, type RunningServer } from '../../src/serve/server.js';
import { runCli } from '../helpers/cli.js';
import { exited, startProcess } from '../helpers/spawn.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const store = join(dir, 'store');
const base = { files: { 'etc/os-release': 'ID=test\n' } };
const busybox = await buildImage({ names: ['busybox:latest', 'busybox:1.36'], layers: [base, { files: { bin: 'busybox' }, compression: 'gzip' }] }, 'docker');
const flannel = await buildImage({ names: ['quay.io/coreos/flannel:v0.10.0-amd64'], layers: [base, { files: { flannel: 'x'.repeat(5000) } }] });
const amd = await buildImage({ layers: [base, { files: { m: 'amd64' } }] });
const arm = await buildImage({ architecture: 'arm64', layers: [base, { files: { m: 'arm64' } }] });
const indexData = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [
  { mediaType: MediaType.ociManifest, digest: amd.manifest.digest, size: amd.manifest.data.length, platform: { os: 'linux', architecture: 'amd64' } },
  { mediaType: MediaType.ociManifest, digest: arm.manifest.digest, size: arm.manifest.data.length, platform: { os: 'linux', architecture: 'arm64' } },
] }));
const indexDigest = sha256(indexData);

let server: RunningServer;
let base_ = '';
const url = (p: string) => `${base_}${p}`;
type Init = Omit<RequestInit, 'body'> & { body?: Buffer | string };
/** fetch, with a Buffer body as bytes. */
const call = (target: string, init: Init = {}) => fetch(target, { ...init, body: typeof init.body === 'string' || init.body === undefined ? init.body : new Uint8Array(init.body) } as RequestInit);
const get = (p: string, init: Init = {}) => call(url(p), init);
const errorCode = async (r: Response) => ((await r.json()) as { errors: { code: string }[] }).errors[0].code;
const inStore = (...args: string[]) => runCli('--store', store, ...args);
const blobFiles = () => readdirSync(join(store, 'blobs', 'sha256'));

beforeAll(async () => {
  const a = writeTemp(dir, 'a.tar', await tarBuffer(ociEntries([busybox], { hybrid: true }))); // keeps its Docker manifest as it is
  const b = writeTemp(dir, 'b.tar', await tarBuffer(ociEntries([flannel])));
  const top = { schemaVersion: 2, manifests: [{ mediaType: MediaType.ociIndex, digest: indexDigest, size: indexData.length, annotations: { 'io.containerd.image.name': 'docker.io/team/multi:1' } }] };
  const m = writeTemp(dir, 'm.tar', await tarBuffer(ociEntries([amd, arm], { index: top, extraBlobs: [{ digest: indexDigest, data: indexData, mediaType: MediaType.ociIndex }] })));
  const load = await inStore('load', '-i', a, '-i', b, '-i', m);
  expect(load.code, load.stderr).toBe(0);
  server = await startServe({ store, listen: '127.0.0.1:0' });
  base_ = server.url;
});
afterAll(async () => {
  await server?.close();
});

describe('serve: pull', () => {
  it('GET /v2/ answers 200 with the API version header', async () => {
    const r = await get('/v2/');
    expect(r.status).toBe(200);
    expect(r.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.port).toBeGreaterThan(0);
  });

  it('serves a manifest by tag and by digest, GET and HEAD, with its media type, digest and length', async () => {
    for (const name of ['busybox', 'library/busybox', 'docker.io/library/busybox', 'library/busybox?ns=docker.io']) {
      const [path, query] = name.split('?');
      const r = await get(`/v2/${path}/manifests/1.36${query ? '?' + query : ''}`, { headers: { Accept: MediaType.dockerManifest } });
      expect(r.status, name).toBe(200);
      const body = Buffer.from(await r.arrayBuffer());
      expect(body.equals(busybox.manifest.data)).toBe(true);
      expect(r.headers.get('content-type')).toBe(MediaType.dockerManifest);
      expect(r.headers.get('docker-content-digest')).toBe(busybox.manifest.digest);
      expect(r.headers.get('content-length')).toBe(String(body.length));
    }
    const head = await get(`/v2/busybox/manifests/latest`, { method: 'HEAD' });
    expect([head.status, head.headers.get('docker-content-digest'), head.headers.get('content-length')]).toEqual([200, busybox.manifest.digest, String(busybox.manifest.data.length)]);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const byDigest = await get(`/v2/busybox/manifests/${busybox.manifest.digest}`);
    expect([byDigest.status, byDigest.headers.get('docker-content-digest')]).toEqual([200, busybox.manifest.digest]);
    // An OCI manifest is served as it is, even to a client that asks only for Docker's type.
    const oci = await get('/v2/quay.io/coreos/flannel/manifests/v0.10.0-amd64', { headers: { Accept: MediaType.dockerManifest } });
    expect([oci.status, oci.headers.get('content-type'), oci.headers.get('docker-content-digest')]).toEqual([200, MediaType.ociManifest, flannel.manifest.digest]);
    const ns = await get('/v2/coreos/flannel/manifests/v0.10.0-amd64?ns=quay.io', { method: 'HEAD' });
    expect(ns.headers.get('docker-content-digest')).toBe(flannel.manifest.digest);
  });

  it('serves a multi-platform index whole, and its children by digest', async () => {
    const r = await get('/v2/team/multi/manifests/1');
    expect([r.status, r.headers.get('content-type'), r.headers.get('docker-content-digest')]).toEqual([200, MediaType.ociIndex, indexDigest]);
    expect(Buffer.from(await r.arrayBuffer()).equals(indexData)).toBe(true);
    for (const child of [amd, arm]) {
      const c = await get(`/v2/team/multi/manifests/${child.manifest.digest}`);
      expect([c.status, c.headers.get('docker-content-digest')]).toEqual([200, child.manifest.digest]);
    }
  });

  it('answers unknown manifests, repositories and blobs, and bad names and digests, with the spec\'s errors', async () => {
    const cases: [string, string, number, string][] = [
      ['GET', '/v2/busybox/manifests/nope', 404, 'MANIFEST_UNKNOWN'],
      ['GET', `/v2/busybox/manifests/sha256:${'0'.repeat(64)}`, 404, 'MANIFEST_UNKNOWN'],
      ['GET', `/v2/busybox/manifests/${busybox.layers[0].digest}`, 404, 'MANIFEST_UNKNOWN'], // a layer is not a manifest
      ['GET', '/v2/nothing/here/manifests/1', 404, 'NAME_UNKNOWN'],
      ['GET', '/v2/nothing/tags/list', 404, 'NAME_UNKNOWN'],
      ['GET', `/v2/busybox/blobs/sha256:${'0'.repeat(64)}`, 404, 'BLOB_UNKNOWN'],
      ['GET', '/v2/busybox/blobs/sha256:abc', 400, 'DIGEST_INVALID'],
      ['GET', '/v2/busybox/manifests/sha256:ABC', 400, 'DIGEST_INVALID'],
      ['GET', '/v2/bad..name/manifests/1', 400, 'NAME_INVALID'],
      ['GET', '/v2/busybox/tags/list?n=x', 400, 'PAGINATION_NUMBER_INVALID'],
    ];
    for (const [method, path, status, code] of cases) {
      const r = await get(path, { method });
      expect([path, r.status, r.headers.get('content-type'), await errorCode(r)]).toEqual([path, status, 'application/json', code]);
    }
    const head = await get(`/v2/busybox/blobs/sha256:${'0'.repeat(64)}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
  });

  it('serves blobs whole and by Range (206, Content-Range), and refuses a range past the end (416)', async () => {
    const layer = flannel.layers[1];
    const whole = await get(`/v2/quay.io/coreos/flannel/blobs/${layer.digest}`);
    expect([whole.status, whole.headers.get('docker-content-digest'), whole.headers.get('content-length')]).toEqual([200, layer.digest, String(layer.data.length)]);
    expect(sha256(Buffer.from(await whole.arrayBuffer()))).toBe(layer.digest);
    const encoded = await get(`/v2/quay.io/coreos/flannel/blobs/${layer.digest.replace(':', '%3A')}`, { method: 'HEAD' });
    expect(encoded.status).toBe(200);
    const head = await get(`/v2/quay.io/coreos/flannel/blobs/${layer.digest}`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.headers.get('accept-ranges')]).toEqual([200, String(layer.data.length), 'bytes']);
    const part = await get(`/v2/quay.io/coreos/flannel/blobs/${layer.digest}`, { headers: { Range: 'bytes=100-1123' } });
    expect([part.status, part.headers.get('content-range'), part.headers.get('content-length')]).toEqual([206, `bytes 100-1123/${layer.data.length}`, '1024']);
    expect(Buffer.from(await part.arrayBuffer()).equals(layer.data.subarray(100, 1124))).toBe(true);
    const open = await get(`/v2/quay.io/coreos/flannel/blobs/${layer.digest}`, { headers: { Range: `bytes=${layer.data.length - 10}-` } });
    expect([open.status, Buffer.from(await open.arrayBuffer()).equals(layer.data.subarray(-10))]).toEqual([206, true]);
    const suffix = await get(`/v2/quay.io/coreos/flannel/blobs/${layer.digest}`, { headers: { Range: 'bytes=-7' } });
    expect([suffix.status, suffix.headers.get('content-range'), Buffer.from(await suffix.arrayBuffer()).equals(layer.data.subarray(-7))]).toEqual([206, `bytes ${layer.data.length - 7}-${layer.data.length - 1}/${layer.data.length}`, true]);
    const past = await get(`/v2/quay.io/coreos/flannel/blobs/${layer.digest}`, { headers: { Range: `bytes=${layer.data.length}-` } });
    expect([past.status, past.headers.get('content-range')]).toEqual([416, `bytes */${layer.data.length}`]);
  });

  it('lists tags and the catalog, with n/last pagination and a Link to the next page', async () => {
    const all = await get('/v2/busybox/tags/list');
    expect(await all.json()).toEqual({ name: 'busybox', tags: ['1.36', 'latest'] });
    const first = await get('/v2/library/busybox/tags/list?n=1');
    expect(await first.json()).toEqual({ name: 'library/busybox', tags: ['1.36'] });
    expect(first.headers.get('link')).toBe('</v2/library/busybox/tags/list?n=1&last=1.36>; rel="next"');
    const next = await get('/v2/library/busybox/tags/list?n=1&last=1.36');
    expect([await next.json(), next.headers.get('link')]).toEqual([{ name: 'library/busybox', tags: ['latest'] }, null]);
    expect(await (await get('/v2/busybox/tags/list?n=0')).json()).toEqual({ name: 'busybox', tags: [] });
    const cat = await get('/v2/_catalog');
    expect(await cat.json()).toEqual({ repositories: ['busybox', 'quay.io/coreos/flannel', 'team/multi'] });
    const page = await get('/v2/_catalog?n=2');
    expect(await page.json()).toEqual({ repositories: ['busybox', 'quay.io/coreos/flannel'] });
    expect(page.headers.get('link')).toBe('</v2/_catalog?n=2&last=quay.io%2Fcoreos%2Fflannel>; rel="next"');
    expect(await (await get('/v2/_catalog?n=2&last=quay.io%2Fcoreos%2Fflannel')).json()).toEqual({ repositories: ['team/multi'] });
  });
});

const blob = (text: string) => {
  const data = Buffer.from(text);
  return { data, digest: sha256(data) };
};
const hasBlob = (digest: string) => existsSync(join(store, 'blobs', 'sha256', digest.slice(7)));
const temps = () => blobFiles().filter((f) => f.startsWith('.tmp-'));

describe('serve: push', () => {
  it('takes a monolithic upload (POST ?digest=) into the store', async () => {
    const b = blob('monolithic');
    const r = await get(`/v2/pushed/app/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.data, headers: { 'Content-Type': 'application/octet-stream' } });
    expect([r.status, r.headers.get('location'), r.headers.get('docker-content-digest')]).toEqual([201, url(`/v2/pushed/app/blobs/${b.digest}`), b.digest]);
    expect(hasBlob(b.digest)).toBe(true);
    expect((await get(`/v2/pushed/app/blobs/${b.digest}`, { method: 'HEAD' })).status).toBe(200);
  });

  it('takes a chunked upload: POST, PATCH with Content-Range, status, an out-of-order chunk refused, PUT ?digest=', async () => {
    const b = blob('0123456789'.repeat(100));
    const start = await get('/v2/pushed/app/blobs/uploads/', { method: 'POST' });
    expect(start.status).toBe(202);
    const uuid = start.headers.get('docker-upload-uuid')!;
    const location = start.headers.get('location')!;
    expect(location).toBe(url(`/v2/pushed/app/blobs/uploads/${uuid}`));
    expect(start.headers.get('range')).toBe('0-0');
    const one = await call(location, { method: 'PATCH', body: b.data.subarray(0, 400), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-399' } });
    expect([one.status, one.headers.get('range'), one.headers.get('docker-upload-uuid')]).toEqual([202, '0-399', uuid]);
    expect(temps().length).toBeGreaterThan(0); // the upload grows inside the store
    const status = await call(location);
    expect([status.status, status.headers.get('range')]).toEqual([204, '0-399']);
    const wrong = await call(location, { method: 'PATCH', body: b.data.subarray(500, 600), headers: { 'Content-Range': '500-599' } });
    expect([wrong.status, wrong.headers.get('range'), await errorCode(wrong)]).toEqual([416, '0-399', 'RANGE_INVALID']);
    const two = await call(location, { method: 'PATCH', body: b.data.subarray(400, 900) }); // streamed: no Content-Range
    expect([two.status, two.headers.get('range')]).toEqual([202, '0-899']);
    expect(hasBlob(b.digest)).toBe(false);
    const done = await call(`${location}?digest=${b.digest}`, { method: 'PUT', body: b.data.subarray(900), headers: { 'Content-Range': '900-999' } });
    expect([done.status, done.headers.get('location'), done.headers.get('docker-content-digest')]).toEqual([201, url(`/v2/pushed/app/blobs/${b.digest}`), b.digest]);
    expect(readFileSync(join(store, 'blobs', 'sha256', b.digest.slice(7))).equals(b.data)).toBe(true);
    expect(temps()).toEqual([]);
    expect(await errorCode(await call(location))).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('refuses a blob whose bytes do not match the digest (400 DIGEST_INVALID): nothing is stored', async () => {
    const b = blob('the real bytes');
    const other = blob('other bytes');
    const start = await get('/v2/pushed/app/blobs/uploads/', { method: 'POST' });
    const location = start.headers.get('location')!;
    const r = await call(`${location}?digest=${other.digest}`, { method: 'PUT', body: b.data });
    expect([r.status, await errorCode(r)]).toEqual([400, 'DIGEST_INVALID']);
    expect([hasBlob(b.digest), hasBlob(other.digest), temps()]).toEqual([false, false, []]);
    const mono = await get(`/v2/pushed/app/blobs/uploads/?digest=${other.digest}`, { method: 'POST', body: b.data });
    expect([mono.status, await errorCode(mono)]).toEqual([400, 'DIGEST_INVALID']);
    expect(temps()).toEqual([]);
  });

  it('cancels an upload (DELETE), and answers unknown uploads with BLOB_UPLOAD_UNKNOWN', async () => {
    const start = await get('/v2/pushed/app/blobs/uploads/', { method: 'POST' });
    const location = start.headers.get('location')!;
    await call(location, { method: 'PATCH', body: 'partial' });
    expect((await call(location, { method: 'DELETE' })).status).toBe(204);
    expect(temps()).toEqual([]);
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const r = await call(location, { method, ...(method === 'PATCH' ? { body: 'x' } : {}) });
      expect([method, r.status, await errorCode(r)]).toEqual([method, 404, 'BLOB_UPLOAD_UNKNOWN']);
    }
    // An upload belongs to its repository.
    const other = await get('/v2/pushed/app/blobs/uploads/', { method: 'POST' });
    const r = await get(`/v2/someone/else/blobs/uploads/${other.headers.get('docker-upload-uuid')}`);
    expect(r.status).toBe(404);
    await call(other.headers.get('location')!, { method: 'DELETE' });
  });

  it('mounts a blob the store has from another repository (201), else starts an upload (202)', async () => {
    const layer = busybox.layers[1].digest;
    const r = await get(`/v2/pushed/app/blobs/uploads/?mount=${layer}&from=library/busybox`, { method: 'POST' });
    expect([r.status, r.headers.get('location'), r.headers.get('docker-content-digest')]).toEqual([201, url(`/v2/pushed/app/blobs/${layer}`), layer]);
    const missing = await get(`/v2/pushed/app/blobs/uploads/?mount=sha256:${'1'.repeat(64)}&from=library/busybox`, { method: 'POST' });
    expect(missing.status).toBe(202);
    await call(missing.headers.get('location')!, { method: 'DELETE' });
  });

  it('refuses manifests that are invalid, reference missing blobs or do not match their digest', async () => {
    const indexBefore = readFileSync(join(store, 'index.json'));
    const put = (ref: string, body: Buffer | string, type: string = MediaType.ociManifest) => get(`/v2/pushed/app/manifests/${ref}`, { method: 'PUT', body, headers: { 'Content-Type': type } });
    const missing = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: flannel.config.digest, size: flannel.config.data.length }, layers: [{ mediaType: MediaType.ociLayer, digest: `sha256:${'2'.repeat(64)}`, size: 3 }] });
    const r = await put('v1', missing);
    expect([r.status, await errorCode(r)]).toEqual([400, 'MANIFEST_BLOB_UNKNOWN']);
    const childMissing = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:${'3'.repeat(64)}`, size: 3 }] });
    expect(await errorCode(await put('v1', childMissing, MediaType.ociIndex))).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(await errorCode(await put('v1', 'not json'))).toBe('MANIFEST_INVALID');
    expect(await errorCode(await put('v1', JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-other' })))).toBe('MANIFEST_INVALID');
    expect(await errorCode(await put('v1', flannel.manifest.data, MediaType.dockerManifest))).toBe('MANIFEST_INVALID'); // Content-Type says another type
    const wrongDigest = await put(busybox.manifest.digest, flannel.manifest.data);
    expect([wrongDigest.status, await errorCode(wrongDigest)]).toEqual([400, 'DIGEST_INVALID']);
    expect(await errorCode(await put('-bad', flannel.manifest.data))).toBe('TAG_INVALID');
    expect(await errorCode(await put('bad:tag', flannel.manifest.data))).toBe('DIGEST_INVALID'); // a colon makes it a digest
    expect(readFileSync(join(store, 'index.json')).equals(indexBefore)).toBe(true);
  });

  it('puts a manifest by tag: it is named in the store, the name moves on a second push, the store verifies', async () => {
    const put = (tag: string, m: typeof flannel) => get(`/v2/pushed/app/manifests/${tag}`, { method: 'PUT', body: m.manifest.data, headers: { 'Content-Type': m.manifest.mediaType } });
    const r = await put('v1', flannel);
    expect([r.status, r.headers.get('location'), r.headers.get('docker-content-digest')]).toEqual([201, url(`/v2/pushed/app/manifests/${flannel.manifest.digest}`), flannel.manifest.digest]);
    const back = await get('/v2/pushed/app/manifests/v1');
    expect([back.status, back.headers.get('docker-content-digest')]).toEqual([200, flannel.manifest.digest]);
    expect((await put('v1', busybox)).status).toBe(201);
    const names = (await inStore('images', '--json')).json().images.map((i: { name: string; id: string }) => [i.name, i.id]);
    expect(names.filter(([n]: string[]) => n === 'docker.io/pushed/app:v1')).toEqual([['docker.io/pushed/app:v1', busybox.config.digest]]);
    expect(await (await get('/v2/pushed/app/tags/list')).json()).toEqual({ name: 'pushed/app', tags: ['v1'] });
    expect((await inStore('verify', 'store:')).code).toBe(0);
  });

  it('keeps manifests pushed by digest until an index pushed by tag references them', async () => {
    const entries = () => JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')).manifests as { digest: string; annotations?: Record<string, string> }[];
    const children = [amd, arm].map((m) => m.manifest);
    for (const m of children) {
      const r = await get(`/v2/pushed/multi/manifests/${m.digest}`, { method: 'PUT', body: m.data, headers: { 'Content-Type': m.mediaType } });
      expect(r.status).toBe(201);
    }
    // Already reachable from team/multi:1's index: nothing new in index.json. A new child is kept unnamed.
    const lone = await buildImage({ layers: [base] });
    const config = await get(`/v2/pushed/multi/blobs/uploads/?digest=${lone.config.digest}`, { method: 'POST', body: lone.config.data });
    const layer = await get(`/v2/pushed/multi/blobs/uploads/?mount=${lone.layers[0].digest}&from=busybox`, { method: 'POST' });
    expect([config.status, layer.status]).toEqual([201, 201]);
    expect((await get(`/v2/pushed/multi/manifests/${lone.manifest.digest}`, { method: 'PUT', body: lone.manifest.data, headers: { 'Content-Type': lone.manifest.mediaType } })).status).toBe(201);
    expect(entries().filter((e) => e.digest === lone.manifest.digest && !e.annotations)).toHaveLength(1);
    expect((await runCli('--store', store, 'prune', '--json')).json().blobs).toBe(0);
    expect((await get(`/v2/pushed/multi/manifests/${lone.manifest.digest}`)).status).toBe(200);
    const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest: lone.manifest.digest, size: lone.manifest.data.length, platform: { os: 'linux', architecture: 'amd64' } }] }));
    const r = await get('/v2/pushed/multi/manifests/2', { method: 'PUT', body: idx, headers: { 'Content-Type': MediaType.ociIndex } });
    expect([r.status, r.headers.get('docker-content-digest')]).toEqual([201, sha256(idx)]);
    expect(entries().filter((e) => e.digest === lone.manifest.digest)).toEqual([]); // the index's name now keeps it
    expect(entries().filter((e) => e.digest === sha256(idx)).map((e) => e.annotations?.['io.containerd.image.name'])).toEqual(['docker.io/pushed/multi:2']);
    expect((await inStore('verify', 'store:')).code).toBe(0);
  });

  it('a prune beside a push takes neither the upload in progress nor the blobs waiting for their manifest', async () => {
    const img = await buildImage({ layers: [{ files: { p: 'prune race '.repeat(100) } }] });
    const layer = img.layers[0];
    const start = await get('/v2/pushed/race/blobs/uploads/', { method: 'POST' });
    const location = start.headers.get('location')!;
    await call(location, { method: 'PATCH', body: layer.data.subarray(0, 100) });
    expect((await inStore('prune')).code).toBe(0);
    await call(`${location}?digest=${layer.digest}`, { method: 'PUT', body: layer.data.subarray(100) });
    await get(`/v2/pushed/race/blobs/uploads/?digest=${img.config.digest}`, { method: 'POST', body: img.config.data });
    expect((await inStore('prune', '--json')).json().blobs).toBe(0);
    expect([hasBlob(layer.digest), hasBlob(img.config.digest)]).toEqual([true, true]);
    const r = await get('/v2/pushed/race/manifests/1', { method: 'PUT', body: img.manifest.data, headers: { 'Content-Type': img.manifest.mediaType } });
    expect(r.status).toBe(201);
    expect((await inStore('verify', 'store:')).code).toBe(0);
  });

});

/** Pushes blobs by digest, then a manifest; returns the PUT's response. */
async function pushManifest(repo: string, reference: string, manifest: Buffer, mediaType: string, blobs: { data: Buffer; digest: string }[]) {
  for (const b of blobs) await get(`/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.data });
  return get(`/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': mediaType } });
}

/** An OCI 1.1 artifact manifest that refers to `subject` (as oras attach or cosign with referrers write). */
function artifact(subject: string, opts: { artifactType?: string; configType?: string; text: string; annotations?: Record<string, string> }) {
  const config = opts.configType ? blob(`{"kind":"${opts.text}"}`) : blob('{}');
  const layer = blob(opts.text);
  const json = {
    schemaVersion: 2, mediaType: MediaType.ociManifest,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config: { mediaType: opts.configType ?? 'application/vnd.oci.empty.v1+json', digest: config.digest, size: config.data.length },
    layers: [{ mediaType: 'application/octet-stream', digest: layer.digest, size: layer.data.length }],
    subject: { mediaType: MediaType.ociManifest, digest: subject, size: 1 },
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const data = Buffer.from(JSON.stringify(json));
  return { data, digest: sha256(data), blobs: [config, layer] };
}

describe('serve: referrers (OCI 1.1)', () => {
  const subject = () => flannel.manifest.digest;
  const sig = () => artifact(subject(), { artifactType: 'application/vnd.example.signature', text: 'sig', annotations: { 'org.example.kind': 'sig' } });
  const sbom = () => artifact(subject(), { configType: 'application/vnd.example.sbom.config', text: 'sbom' });

  it('a manifest with a subject is answered with OCI-Subject, and listed under its subject with artifactType and annotations', async () => {
    for (const a of [sig(), sbom()]) {
      const r = await pushManifest('quay.io/coreos/flannel', a.digest, a.data, MediaType.ociManifest, a.blobs);
      expect([r.status, r.headers.get('oci-subject')]).toEqual([201, subject()]);
    }
    const r = await get(`/v2/quay.io/coreos/flannel/referrers/${subject()}`);
    expect([r.status, r.headers.get('content-type'), r.headers.get('oci-filters-applied')]).toEqual([200, MediaType.ociIndex, null]);
    const index = (await r.json()) as { schemaVersion: number; manifests: { digest: string; artifactType?: string; annotations?: Record<string, string>; size: number }[] };
    expect(index.schemaVersion).toBe(2);
    const byDigest = Object.fromEntries(index.manifests.map((m) => [m.digest, m]));
    expect(Object.keys(byDigest).sort()).toEqual([sig().digest, sbom().digest].sort());
    expect(byDigest[sig().digest]).toEqual({ mediaType: MediaType.ociManifest, digest: sig().digest, size: sig().data.length, artifactType: 'application/vnd.example.signature', annotations: { 'org.example.kind': 'sig' } });
    expect(byDigest[sbom().digest].artifactType).toBe('application/vnd.example.sbom.config'); // no artifactType: the config's media type
  });

  it('filters by artifactType and says so in OCI-Filters-Applied', async () => {
    const r = await get(`/v2/quay.io/coreos/flannel/referrers/${subject()}?artifactType=application/vnd.example.signature`);
    expect(r.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await r.json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest)).toEqual([sig().digest]);
  });

  it('answers an empty index for a digest nothing refers to, lists referrers of an absent subject, and refuses a bad digest', async () => {
    const none = await get(`/v2/quay.io/coreos/flannel/referrers/sha256:${'0'.repeat(64)}`);
    expect([none.status, ((await none.json()) as { manifests: unknown[] }).manifests]).toEqual([200, []]);
    const absent = `sha256:${'1'.repeat(64)}`;
    const orphan = artifact(absent, { artifactType: 'application/vnd.example.note', text: 'orphan' });
    expect((await pushManifest('quay.io/coreos/flannel', orphan.digest, orphan.data, MediaType.ociManifest, orphan.blobs)).status).toBe(201);
    const r = await get(`/v2/quay.io/coreos/flannel/referrers/${absent}`);
    expect(((await r.json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest)).toEqual([orphan.digest]);
    const bad = await get('/v2/quay.io/coreos/flannel/referrers/sha256:xyz');
    expect([bad.status, await errorCode(bad)]).toEqual([400, 'DIGEST_INVALID']);
    expect((await inStore('verify', 'store:')).code).toBe(0);
  });
});

describe('serve: delete', () => {
  const img = () => buildImage({ layers: [{ files: { gone: 'soon' } }] });

  it('a tag: the name goes, the manifest stays by digest; again: 404 MANIFEST_UNKNOWN', async () => {
    const i = await img();
    expect((await pushManifest('del/app', 'a', i.manifest.data, i.manifest.mediaType, [i.config, ...i.layers])).status).toBe(201);
    expect((await pushManifest('del/app', 'b', i.manifest.data, i.manifest.mediaType, [])).status).toBe(201);
    expect((await get('/v2/del/app/manifests/a', { method: 'DELETE' })).status).toBe(202);
    expect(((await (await get('/v2/del/app/tags/list')).json()) as { tags: string[] }).tags).toEqual(['b']);
    expect((await get(`/v2/del/app/manifests/${i.manifest.digest}`)).status).toBe(200);
    const again = await get('/v2/del/app/manifests/a', { method: 'DELETE' });
    expect([again.status, await errorCode(again)]).toEqual([404, 'MANIFEST_UNKNOWN']);
  });

  it('a manifest by digest: every name goes and GET answers 404; its blobs can then be deleted, not before', async () => {
    const i = await img();
    const layer = i.layers[0];
    expect((await pushManifest('del/other', '1', i.manifest.data, i.manifest.mediaType, [i.config, layer])).status).toBe(201);
    const inUse = await get(`/v2/del/other/blobs/${layer.digest}`, { method: 'DELETE' });
    expect([inUse.status, await errorCode(inUse)]).toEqual([405, 'UNSUPPORTED']);
    expect((await get(`/v2/del/other/manifests/${i.manifest.digest}`, { method: 'DELETE' })).status).toBe(202);
    expect((await get(`/v2/del/other/manifests/${i.manifest.digest}`)).status).toBe(404);
    expect((await get('/v2/del/app/manifests/b')).status).toBe(404); // the same manifest's other name
    expect((await get('/v2/del/other/tags/list')).status).toBe(404);
    for (const d of [i.config.digest, layer.digest]) {
      expect((await get(`/v2/del/other/blobs/${d}`, { method: 'DELETE' })).status).toBe(202);
      expect((await get(`/v2/del/other/blobs/${d}`)).status).toBe(404);
    }
    const again = await get(`/v2/del/other/blobs/${layer.digest}`, { method: 'DELETE' });
    expect([again.status, await errorCode(again)]).toEqual([404, 'BLOB_UNKNOWN']);
    const gone = await get(`/v2/del/other/manifests/${i.manifest.digest}`, { method: 'DELETE' });
    expect([gone.status, await errorCode(gone)]).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect((await inStore('verify', 'store:')).code).toBe(0);
  });

  it('a child of an index is refused: the index holds it', async () => {
    const r = await get(`/v2/team/multi/manifests/${amd.manifest.digest}`, { method: 'DELETE' });
    expect([r.status, await errorCode(r)]).toEqual([405, 'UNSUPPORTED']);
    expect((await get(`/v2/team/multi/manifests/${amd.manifest.digest}`)).status).toBe(200);
  });
});

describe('serve --read-only', () => {
  it('serves pulls and refuses every write with 405 UNSUPPORTED', async () => {
    const ro = await startServe({ store, listen: '127.0.0.1:0', readOnly: true });
    try {
      expect((await fetch(`${ro.url}/v2/busybox/manifests/latest`)).status).toBe(200);
      const writes: [string, string][] = [
        ['POST', '/v2/busybox/blobs/uploads/'],
        ['POST', `/v2/busybox/blobs/uploads/?digest=${busybox.config.digest}`],
        ['PATCH', '/v2/busybox/blobs/uploads/x'],
        ['PUT', '/v2/busybox/blobs/uploads/x?digest=sha256:00'],
        ['PUT', '/v2/busybox/manifests/latest'],
        ['DELETE', `/v2/busybox/manifests/${busybox.manifest.digest}`],
        ['DELETE', '/v2/busybox/manifests/latest'],
        ['DELETE', `/v2/busybox/blobs/${busybox.config.digest}`],
      ];
      for (const [method, path] of writes) {
        const r = await fetch(`${ro.url}${path}`, { method, ...(method !== 'DELETE' ? { body: '{}' } : {}) });
        expect([method, path, r.status, await errorCode(r)]).toEqual([method, path, 405, 'UNSUPPORTED']);
      }
    } finally {
      await ro.close();
    }
  });
});

describe('imgpack\'s own client against serve', () => {
  const prev = process.env.IMGPACK_PLAIN_HTTP;
  beforeAll(() => { process.env.IMGPACK_PLAIN_HTTP = '1'; });
  afterAll(() => {
    if (prev === undefined) delete process.env.IMGPACK_PLAIN_HTTP;
    else process.env.IMGPACK_PLAIN_HTTP = prev;
  });

  it('pull and copy docker:// give identical digests', async () => {
    const host = server.address;
    const out = join(dir, 'pulled.tar');
    const r = await runCli('pull', '--all-platforms', `${host}/busybox:1.36`, `${host}/team/multi:1`, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    const doc = (await runCli('inspect', out, '--json')).json();
    const ids = doc.images.map((i: { id: string; manifestDigests: string[] }) => [i.id, i.manifestDigests]).sort();
    expect(ids).toEqual([[busybox.config.digest, [busybox.manifest.digest]], [amd.config.digest, [amd.manifest.digest]], [arm.config.digest, [arm.manifest.digest]]].sort());
    expect(doc.indexes.map((i: { digest: string }) => i.digest)).toEqual([indexDigest]);
    const copied = join(dir, 'copied.tar');
    const c = await runCli('copy', `docker://${host}/quay.io/coreos/flannel:v0.10.0-amd64`, copied);
    expect(c.code, c.stderr).toBe(0);
    expect((await runCli('inspect', copied, '--json')).json().images[0].manifestDigests).toEqual([flannel.manifest.digest]);
    expect((await runCli('verify', copied)).code).toBe(0);
  });

  it('pull brings an image\'s referrers along and push puts them back through the referrers API', async () => {
    const ref = `${server.address}/quay.io/coreos/flannel:v0.10.0-amd64`;
    const near = join(dir, 'near-store');
    const pull = await runCli('--store', near, 'pull', ref);
    expect(pull.code, pull.stderr).toBe(0);
    const listed = async (base: string) => ((await (await fetch(`${base}/v2/quay.io/coreos/flannel/referrers/${flannel.manifest.digest}`)).json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest).sort();
    const attached = await listed(server.url);
    expect(attached.length).toBeGreaterThan(0); // pushed by the referrers tests above
    expect(pull.stdout).toContain(`with ${attached.length} attached`);
    const bare = await runCli('--store', join(dir, 'bare-store'), 'pull', ref, '--no-referrers');
    expect(bare.stdout).toBe(`Pulled: ${ref}\n`);
    const other = await startServe({ store: join(dir, 'other-store'), listen: '127.0.0.1:0' });
    try {
      const push = await runCli('--store', near, 'push', 'store:', '--replace-prefix', `${server.address}/=${other.address}/`, '--json');
      expect(push.code, push.stderr).toBe(0);
      expect(await listed(other.url)).toEqual(attached);
      const tags = (await (await fetch(`${other.url}/v2/quay.io/coreos/flannel/tags/list`)).json()) as { tags: string[] };
      expect(tags.tags).toEqual(['v0.10.0-amd64']); // the API is there: no fallback tag
    } finally {
      await other.close();
    }
  });

  it('imgpack push into serve lands in the store', async () => {
    const src = writeTemp(dir, 'to-push.tar', await tarBuffer(ociEntries([flannel])));
    const r = await runCli('push', src, '--to', `${server.address}/mirror`, '--json');
    expect(r.code, r.stderr).toBe(0);
    const images = (await inStore('images', '--json')).json().images as { name: string; id: string; digest: string }[];
    expect(images.filter((i) => i.name === 'docker.io/mirror/coreos/flannel:v0.10.0-amd64').map((i) => [i.id, i.digest])).toEqual([[flannel.config.digest, flannel.manifest.digest]]);
    expect((await inStore('verify', 'store:')).code).toBe(0);
    expect(temps()).toEqual([]);
  });
});

describe('imgpack serve, the command', () => {
  const children: ReturnType<typeof startProcess>[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  /** stderr of a child until `pattern` shows, or the child exits, or 20 s pass (then it is killed). */
  function waitFor(child: ReturnType<typeof startProcess>, pattern: RegExp): Promise<string> {
    return new Promise((resolve) => {
      let text = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(text);
      }, 20_000);
      const done = () => {
        clearTimeout(timer);
        resolve(text);
      };
      child.stderr!.on('data', (d: Buffer) => {
        text += d.toString();
        if (pattern.test(text)) done();
      });
      child.once('exit', done);
    });
  }

  it('prints the address with the real port, serves, and stops cleanly on SIGTERM', async () => {
    const child = startProcess(['--store', store, 'serve', '--listen', '127.0.0.1:0', '--log']);
    children.push(child);
    const started = await waitFor(child, /Serving store .* on http:\/\/127\.0\.0\.1:\d+\n/);
    const m = /^Serving store (.*) on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(started);
    expect(m?.[1], started).toBe(store);
    const logged = waitFor(child, /"GET \/v2\/busybox\/manifests\/latest" 200/);
    expect((await fetch(`${m![2]}/v2/busybox/manifests/latest`)).status).toBe(200);
    expect(await logged).toMatch(/^127\.0\.0\.1 "GET \/v2\/busybox\/manifests\/latest" 200 \d+ /m);
    child.kill('SIGTERM');
    expect(await exited(child)).toEqual({ code: 0, signal: null });
  });

  it('an address in use, a bad --listen and unreadable TLS files are usage errors (exit 2) naming them', async () => {
    const busy = await runCli('--store', store, 'serve', '--listen', server.address);
    expect([busy.code, busy.stderr]).toEqual([2, `imgpack: address already in use (${server.address})\n`]);
    const bad = await runCli('--store', store, 'serve', '--listen', 'nowhere');
    expect([bad.code, bad.stderr]).toEqual([2, 'imgpack: --listen takes HOST:PORT, e.g. 127.0.0.1:5000 (port 0 picks a free one) (nowhere)\n']);
    const half = await runCli('--store', store, 'serve', '--listen', '127.0.0.1:0', '--tls-cert', 'x.crt');
    expect([half.code, half.stderr]).toEqual([2, 'imgpack: --tls-cert and --tls-key go together\n']);
    const missing = await runCli('--store', store, 'serve', '--listen', '127.0.0.1:0', '--tls-cert', join(dir, 'no.crt'), '--tls-key', join(dir, 'no.key'));
    expect([missing.code, missing.stderr]).toEqual([2, `imgpack: cannot read the TLS certificate: ENOENT (${join(dir, 'no.crt')})\n`]);
  });
});
