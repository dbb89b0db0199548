/**
 * Hostile outer archives: member names, links, digests, size bombs. Every case must end in a
 * one-line error or a problem naming the member/digest, exit 1, and never read or write outside
 * the archive (a canary file beside it holds a secret that must never show up in any output).
 */
import { closeSync, ftruncateSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { describe, expect, it, afterEach } from 'vitest';
import { buildImage, dockerArchiveEntries, ociEntries, sha256, tarBuffer, type Entry } from '../../src/testing/build.js';
import { digestOf } from '../../src/model/digest.js';
import { runCli } from '../helpers/cli.js';
import { content, END, header } from '../helpers/raw-tar.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const SECRET = 'CANARY-7f3a9c-do-not-leak';
const canary = writeTemp(dir, 'canary.txt', SECRET);
const img = await buildImage({ names: ['x:1'], layers: [{ files: { a: 'a' } }] }, 'docker');
const base = dockerArchiveEntries([img]);
const manifestJson = (m: unknown): Entry => ({ name: 'manifest.json', data: Buffer.from(JSON.stringify(m)) });
const withoutManifest = base.filter((e) => e.name !== 'manifest.json');
const cfgName = `${img.config.digest.slice(7)}.json`;
const layerName = base.find((e) => e.name.endsWith('layer.tar'))!.name;
let n = 0;

/** One PAX record, `LEN key=value\n`, where LEN counts itself. */
function paxRecord(key: string, value: string): Buffer {
  const body = Buffer.byteLength(` ${key}=${value}\n`);
  let len = body + 1;
  while (String(len).length + body !== len) len = String(len).length + body;
  return Buffer.from(`${len} ${key}=${value}\n`);
}

/** Runs verify, inspect and convert; returns their results and checks the common promises. */
async function attack(tar: Buffer) {
  const file = writeTemp(dir, `hostile-${n++}.tar`, tar);
  const out = join(dir, `out-${n}.tar`);
  const verify = await runCli('verify', file, '--json');
  const inspect = await runCli('inspect', file);
  const convert = await runCli('convert', file, '-o', out);
  for (const r of [verify, inspect, convert]) {
    expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /); // never a stack trace
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  }
  expect(verify.code).toBe(1);
  expect(readFileSync(canary, 'utf8')).toBe(SECRET);
  if (convert.code === 0) expect(readFileSync(out).includes(SECRET)).toBe(false);
  else expect(convert.code).toBe(1);
  expect(convert.stderr.trim().split('\n').filter((l) => l.startsWith('imgpack:')).length).toBeLessThanOrEqual(1);
  return { verify, inspect, convert, problems: verify.json().problems as { code: string; message: string; subject: string }[] };
}

describe('member names', () => {
  it.each([
    ['absolute', '/etc/passwd', 'member name is absolute'],
    ['.. climbing', 'blobs/../../../etc/passwd', 'climbs out'],
    ['./.. trick', './../x', 'climbs out'],
    ['NUL byte (in a PAX path)', 'manifest.json\0.evil', 'NUL byte'],
  ])('%s: reported as an unsafe name, naming the member', async (_label, name, message) => {
    const rec = paxRecord('path', name);
    const tar = Buffer.concat([await tarBuffer(base).then((b) => b.subarray(0, b.length - 1024)), header('pax', { type: 'x', size: rec.length }), content(rec), header('placeholder', { size: 4 }), content('evil'), END]);
    const { problems } = await attack(tar);
    const p = problems.find((x) => x.code === 'tar-unsafe-name');
    expect(p?.message).toContain(message);
  });

  it('./ prefixes and doubled slashes are the same member (normalised), not a way round the checks', async () => {
    const entries = base.map((e) => (e.name === 'manifest.json' ? { ...e, name: './/manifest.json' } : e));
    const r = await runCli('verify', writeTemp(dir, 'dotslash.tar', await tarBuffer(entries)));
    expect(r.code, r.stdout).toBe(0);
  });

  it('a very long name (PAX path of 120 kB) is read; one over the 1 MiB extended-header limit is refused', async () => {
    const long = `${'d/'.repeat(60_000)}x`;
    const rec = paxRecord('path', long);
    const tar = Buffer.concat([header('pax', { type: 'x', size: rec.length }), content(rec), header('placeholder', { size: 1 }), content('x'), END]);
    const idx = await import('../../src/io/tar-index.js').then((m) => m.indexTarFile(writeTemp(dir, 'long.tar', tar)));
    expect(idx.entries[0].name).toBe(long);
    const huge = Buffer.concat([header('pax', { type: 'x', size: 2 << 20 }), Buffer.alloc(2 << 20), END]);
    const idx2 = await import('../../src/io/tar-index.js').then((m) => m.indexTarFile(writeTemp(dir, 'huge-pax.tar', huge)));
    expect(idx2.problems[0].message).toContain('1048576-byte limit');
  });

  it('duplicate members with different content: the LAST one wins everywhere, and verify reports it', async () => {
    // Two manifest.json: the first names x:1, the last names y:2. inspect, convert and verify agree.
    const tar = await tarBuffer([...withoutManifest, manifestJson([{ Config: cfgName, RepoTags: ['x:1'], Layers: [layerName] }]), manifestJson([{ Config: cfgName, RepoTags: ['y:2'], Layers: [layerName] }])]);
    const file = writeTemp(dir, 'dup.tar', tar);
    const v = await runCli('verify', file, '--json');
    expect(v.code).toBe(1);
    expect(v.json().problems).toEqual([{ code: 'tar-duplicate', message: 'member appears more than once (the last one is used)', subject: 'manifest.json' }]);
    expect((await runCli('inspect', file, '--json')).json().images[0].repoTags).toEqual(['docker.io/library/y:2']);
    expect((await runCli('convert', file, '-o', join(dir, 'dup-out.tar'))).code).toBe(0);
    expect((await runCli('inspect', join(dir, 'dup-out.tar'), '--json')).json().images[0].repoTags).toEqual(['docker.io/library/y:2']);
  });
});

describe('links in the outer archive', () => {
  const linkTo = (name: string, target: string, type: '1' | '2') => Buffer.concat([header(name, { type, linkname: target })]);
  const archiveWith = async (extra: Buffer[], drop: string[] = []) => {
    const t = await tarBuffer(base.filter((e) => !drop.includes(e.name)));
    return Buffer.concat([t.subarray(0, t.length - 1024), ...extra, END]);
  };

  it.each([
    ['a layer symlinked to the canary (absolute)', () => archiveWith([linkTo(layerName, canary, '2')], [layerName]), 'link-escapes'],
    ['a layer symlinked out with ..', () => archiveWith([linkTo(layerName, `../../..${canary}`, '2')], [layerName]), 'link-escapes'],
    ['a layer hardlinked to /etc/passwd', () => archiveWith([linkTo(layerName, '/etc/passwd', '1')], [layerName]), 'link-escapes'],
    ['manifest.json symlinked to /etc/passwd', () => archiveWith([linkTo('manifest.json', '/etc/passwd', '2')], ['manifest.json']), 'link-escapes'],
    ['the config hardlinked out with ..', () => archiveWith([linkTo(cfgName, '../../etc/passwd', '1')], [cfgName]), 'link-escapes'],
    ['links in a loop', () => archiveWith([linkTo(layerName, '../loop-b', '2'), linkTo('loop-b', layerName, '2')], [layerName]), 'link-loop'],
    ['a hardlink loop', () => archiveWith([linkTo(layerName, 'hl-b', '1'), linkTo('hl-b', layerName, '1')], [layerName]), 'link-loop'],
    ['a layer symlinked to a directory', () => archiveWith([header('somedir/', { type: '5' }), linkTo(layerName, '../somedir', '2')], [layerName]), 'not-a-file'],
  ])('%s: a problem naming the link, nothing read outside, no image written', async (_label, make, code) => {
    const { problems, convert } = await attack(await make());
    expect(problems.map((p) => p.code)).toContain(code === 'not-a-file' ? 'bad-layer' : code);
    expect(convert.code).toBe(1);
    expect(convert.stderr).toMatch(/^imgpack: .*has no readable image/);
  });

  it('a layer path in manifest.json that IS /etc/passwd, or climbs to it', async () => {
    for (const p of ['/etc/passwd', '../../../../etc/passwd', canary]) {
      const { problems, convert } = await attack(await tarBuffer([...withoutManifest, manifestJson([{ Config: cfgName, RepoTags: ['x:1'], Layers: [p] }])]));
      expect(problems.map((x) => x.code)).toContain('unsafe-path');
      expect(problems.find((x) => x.code === 'unsafe-path')!.subject).toBe(p);
      expect(convert.code).toBe(1);
    }
  });

  it('a transfer manifest naming a volume outside its folder is refused', async () => {
    writeFileSync(join(dir, 'v.tar.imgpack.json'), JSON.stringify({ kind: 'imgpack-transfer', version: 1, volumes: [{ name: '../canary.txt', size: 1, sha256: 'x' }] }));
    const r = await runCli('inspect', join(dir, 'v.tar.imgpack.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('imgpack: a volume name must be a plain file name (../canary.txt)\n');
  });
});

const oci = await buildImage({ names: ['y:1'], layers: [{ files: { b: 'b' } }] });
describe('digests', () => {
  const desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: oci.manifest.data.length };
  it.each([
    ['sha256:../../x', 'malformed digest "sha256:../../x"'],
    [`sha256:${oci.manifest.digest.slice(7).toUpperCase()}`, 'hex must be lower case'],
    ['SHA256:' + oci.manifest.digest.slice(7), 'malformed digest'],
    ['sha256:abc', 'sha256 needs 64 hex characters'],
    ['md5:d41d8cd98f00b204e9800998ecf8427e', 'unsupported digest algorithm "md5"'],
    ['../../etc:passwd', 'malformed digest'],
    ['sha512:' + 'a'.repeat(64), 'sha512 needs 128 hex characters'],
  ])('%s in index.json: a problem naming the digest, never a path', async (digest, message) => {
    const { problems } = await attack(await tarBuffer(ociEntries([oci], { index: { schemaVersion: 2, manifests: [{ ...desc, digest }] } })));
    expect(problems.some((p) => p.message.includes(message))).toBe(true);
  });

  it('sha512 blobs are valid OCI: read, verified, converted and verified again', async () => {
    const layer = oci.layers[0];
    const d512 = (b: Buffer) => digestOf(b, 'sha512');
    const config = JSON.parse(oci.config.data.toString());
    const configData = Buffer.from(JSON.stringify(config));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d512(configData), size: configData.length }, layers: [{ mediaType: layer.mediaType, digest: d512(layer.data), size: layer.data.length }] }));
    const blob = (b: Buffer) => ({ name: `blobs/sha512/${d512(b).slice(7)}`, data: b });
    const entries: Entry[] = [blob(layer.data), blob(configData), blob(manifest), { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
      { name: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d512(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'docker.io/library/s512:1' } }] })) }];
    const file = writeTemp(dir, 'sha512.tar', await tarBuffer(entries));
    const v = await runCli('verify', file);
    expect(v.code, v.stderr + v.stdout + (await runCli('verify', file, '--json')).stdout).toBe(0);
    for (const fmt of ['oci-archive', 'hybrid']) {
      const out = join(dir, `sha512-${fmt}.tar`);
      const c = await runCli('convert', file, '--format', fmt, '-o', out);
      expect(c.code, c.stderr).toBe(0);
      expect((await runCli('verify', out)).code).toBe(0);
    }
    // A flipped byte in a sha512 layer is caught and named.
    const bad = Buffer.from(readFileSync(file));
    const { indexTarFile } = await import('../../src/io/tar-index.js');
    const member = (await indexTarFile(file)).entries.find((e) => e.name === `blobs/sha512/${d512(layer.data).slice(7)}`)!;
    bad[member.dataOffset + 512] ^= 1; // the inner file's first content byte
    const vb = await runCli('verify', writeTemp(dir, 'sha512-bad.tar', bad), '--json');
    expect(vb.json().problems.map((p: { code: string; subject: string }) => [p.code, p.subject])).toContainEqual(['digest-mismatch', d512(layer.data)]);
  });
});

describe('size bombs: bounded memory and time, and the message names the limit', () => {
  const env = { ...process.env };
  afterEach(() => { process.env = { ...env }; });

  it('a 1 GB manifest.json (sparse) is refused by size before it is read (IMGPACK_MAX_JSON)', async () => {
    const file = join(dir, 'big-manifest.tar');
    const fd = openSync(file, 'w');
    writeSync(fd, header('manifest.json', { size: 1 << 30 }), 0, 512, 0);
    ftruncateSync(fd, 512 + (1 << 30) + 1024);
    closeSync(fd);
    const r = await runCli('verify', file, '--json');
    expect(r.json().problems).toEqual([{ code: 'limit-json-size', message: 'manifest.json is 1073741824 bytes, over the 20971520-byte limit for JSON documents (IMGPACK_MAX_JSON)', subject: 'manifest.json' }]);
    process.env.IMGPACK_MAX_JSON = '100';
    const cfgBig = await runCli('verify', writeTemp(dir, 'cfg-limit.tar', await tarBuffer(base)), '--json');
    expect(cfgBig.json().problems.map((p: { code: string }) => p.code)).toContain('limit-json-size');
  });

  it('JSON nested 100k deep (manifest.json, and a config with deep Labels) is refused, inspect --json does not overflow', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const a = await runCli('verify', writeTemp(dir, 'deep.tar', await tarBuffer([{ name: 'manifest.json', data: Buffer.from(deep) }])), '--json');
    expect(a.json().problems[0]).toMatchObject({ code: 'limit-json-depth', subject: 'manifest.json' });
    const cfg = img.config.data.toString().replace('"config":{', `"config":{"Labels":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)},`);
    const file = writeTemp(dir, 'deep-labels.tar', await tarBuffer([...withoutManifest, { name: 'c.json', data: Buffer.from(cfg) }, manifestJson([{ Config: 'c.json', RepoTags: ['x:1'], Layers: [layerName] }])]));
    const i = await runCli('inspect', file, '--json');
    expect(i.code).toBe(1); // its only image cannot be read: no image, and problems (issue 13 item 15)
    expect(i.json().problems[0]).toMatchObject({ code: 'limit-json-depth', subject: 'c.json', message: 'config c.json is nested more than 1000 levels deep, the limit for JSON documents' });
  });

  it('a gzip-wrapped archive inflating past IMGPACK_MAX_SPOOL stops there (a gzip bomb does not fill $TMPDIR)', async () => {
    const gz = createGzip({ level: 9 });
    const chunks: Buffer[] = [];
    gz.on('data', (c) => chunks.push(c));
    gz.write(header('blob', { size: 256 << 20 }));
    for (let i = 0; i < 256; i++) gz.write(Buffer.alloc(1 << 20));
    await new Promise((r) => { gz.on('end', r); gz.end(); });
    const bomb = writeTemp(dir, 'bomb.tar.gz', Buffer.concat(chunks)); // 256 MiB from about 260 kB
    process.env.IMGPACK_MAX_SPOOL = String(32 << 20);
    const r = await runCli('inspect', bomb);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`imgpack: the decompressed input is over 33554432 bytes, the limit for spooled input (IMGPACK_MAX_SPOOL) (${bomb})\n`);
  });

  it('a gzip layer inflating to 512 MiB is hashed in bounded memory and its diffID mismatch named', async () => {
    const gz = createGzip({ level: 1 });
    const chunks: Buffer[] = [];
    gz.on('data', (c) => chunks.push(c));
    gz.write(header('zeros', { size: 512 << 20 }));
    for (let i = 0; i < 512; i++) gz.write(Buffer.alloc(1 << 20));
    gz.write(END);
    await new Promise((r) => { gz.on('end', r); gz.end(); });
    const layer = Buffer.concat(chunks);
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } }));
    const file = writeTemp(dir, 'layer-bomb.tar', await tarBuffer([{ name: 'l.tar.gz', data: layer }, { name: 'c.json', data: cfg }, manifestJson([{ Config: 'c.json', RepoTags: ['b:1'], Layers: ['l.tar.gz'] }])]));
    const before = process.memoryUsage().rss;
    const r = await runCli('verify', file, '--json');
    expect(r.json().problems.map((p: { code: string; subject: string }) => [p.code, p.subject])).toEqual([['diffid-mismatch', 'l.tar.gz']]);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 << 20);
  });

  it('more members than IMGPACK_MAX_MEMBERS: the limit is the error', async () => {
    process.env.IMGPACK_MAX_MEMBERS = '1000';
    const parts: Buffer[] = [];
    for (let i = 0; i < 1500; i++) parts.push(header(`f/${i}`));
    const file = writeTemp(dir, 'many.tar', Buffer.concat([...parts, await tarBuffer(base)]));
    const r = await runCli('inspect', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`imgpack: the archive has more than 1000 members, the limit (IMGPACK_MAX_MEMBERS) (${file})\n`);
  });

  it('10k layers in one image (one path repeated) and 5k distinct layers: read, verified, converted', async () => {
    const l = img.layers[0];
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: Array(10_000).fill(l.diffId) } }));
    const file = writeTemp(dir, '10k.tar', await tarBuffer([{ name: 'l.tar', data: l.uncompressed }, { name: 'c.json', data: cfg }, manifestJson([{ Config: 'c.json', RepoTags: ['many:1'], Layers: Array(10_000).fill('l.tar') }])]));
    expect((await runCli('verify', file)).code).toBe(0);
    const entries: Entry[] = [];
    const diffIds: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const data = Buffer.concat([header(`x${i}`), END]);
      diffIds.push(sha256(data));
      entries.push({ name: `${i}.tar`, data });
    }
    const cfg2 = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
    const file2 = writeTemp(dir, '5k.tar', await tarBuffer([...entries, { name: 'c.json', data: cfg2 }, manifestJson([{ Config: 'c.json', RepoTags: ['distinct:1'], Layers: entries.map((e) => e.name) }])]));
    const out = join(dir, '5k-out.tar');
    expect((await runCli('convert', file2, '-o', out)).code).toBe(0);
    expect((await runCli('verify', out)).code).toBe(0);
  });

  it('nothing was ever written beside the inputs but the outputs asked for', () => {
    expect(readdirSync(dir).filter((f) => f.includes('.imgpack-') && f.endsWith('.tmp'))).toEqual([]);
    expect(readFileSync(canary, 'utf8')).toBe(SECRET);
  });
});
