// Issue 13 item 4 and issue 16 item 4: an output is load-ready or not written. Every layer that
// goes into an output has its diffID checked as its bytes pass (compressed ones decompressed in a
// codec worker beside the copy), and a layer that does not match is refused, named, with nothing
// written. Issue 16 item 2/5: zstd layers and outputs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, ociEntries, sha256, tarBuffer, type BuiltImage } from '../../src/testing/build.js';
import { MediaType } from '../../src/model/media-types.js';
import { openSource } from '../../src/formats/source.js';
import { rootsOf } from '../../src/ops/plan.js';
import { copy } from '../../src/ops/copy.js';
import { createSink, resolveOutput } from '../../src/ops/write.js';
import { CodecPool } from '../../src/io/workers.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const workers = CodecPool.forCompression();
afterAll(() => workers.close());

/** The image with its config's diff_ids replaced (a config that lies about its layers). */
function withDiffIds(img: BuiltImage, diffIds: string[]): BuiltImage {
  const cfg = JSON.parse(img.config.data.toString());
  cfg.rootfs.diff_ids = diffIds;
  const data = Buffer.from(JSON.stringify(cfg));
  const config = { ...img.config, digest: sha256(data), data };
  const manifestJson = JSON.parse(img.manifest.data.toString());
  manifestJson.config = { ...manifestJson.config, digest: config.digest, size: data.length };
  const mdata = Buffer.from(JSON.stringify(manifestJson));
  return { ...img, config, layers: img.layers.map((l, i) => ({ ...l, diffId: diffIds[i] })), manifest: { ...img.manifest, digest: sha256(mdata), data: mdata } };
}

const good = await buildImage({ names: ['app:1'], layers: [{ files: { a: 'a'.repeat(5000) }, compression: 'gzip' }, { files: { b: 'b' } }] });
const wrong = sha256('not this layer');
// The gzip layer decompresses to something else than the config says.
const badGzip = withDiffIds(good, [wrong, good.layers[1].diffId]);
// The uncompressed layer's digest is not the config's diff_id.
const badPlain = withDiffIds(good, [good.layers[0].diffId, wrong]);
const goodPath = writeTemp(dir, 'good.tar', await tarBuffer(ociEntries([good])));
const badGzipPath = writeTemp(dir, 'bad-gzip.tar', await tarBuffer(ociEntries([badGzip])));
const badPlainPath = writeTemp(dir, 'bad-plain.tar', await tarBuffer(ociEntries([badPlain])));
// A gzip layer whose digest is right but whose deflate data is damaged (damaged before it was hashed).
const broken = Buffer.from(good.layers[0].data);
broken[broken.length - 12] ^= 0xff;
const brokenImg = await (async () => {
  const layers = [{ ...good.layers[0], data: broken, digest: sha256(broken) }, good.layers[1]];
  const mjson = JSON.parse(good.manifest.data.toString());
  mjson.layers[0] = { ...mjson.layers[0], digest: layers[0].digest, size: broken.length };
  const mdata = Buffer.from(JSON.stringify(mjson));
  return { ...good, layers, manifest: { ...good.manifest, digest: sha256(mdata), data: mdata } };
})();
const brokenPath = writeTemp(dir, 'broken-gzip.tar', await tarBuffer(ociEntries([brokenImg])));
const leftovers = () => readdirSync(dir).filter((f) => f.includes('.imgpack-') || f.startsWith('out-'));

describe('outputs are load-ready, or they are not written', () => {
  it.each([
    ['hybrid', 'out-h.tar'], ['docker-archive', 'out-d.tar'], ['oci-archive', 'out-o.tar'], ['oci-layout', 'out-l/'],
  ])('a gzip layer that does not decompress to its diffID is refused, named, and no %s appears', async (format, name) => {
    const r = await runCli('convert', badGzipPath, '-o', join(dir, name), '--format', format);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`imgpack: layer content has digest ${good.layers[0].diffId}, but the config's diff_id is ${wrong}.*\\(.*bad-gzip.tar: blobs/sha256/${good.layers[0].digest.slice(7)}\\)`));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(leftovers()).toEqual([]);
  });

  it('an uncompressed layer whose digest is not its diffID is refused', async () => {
    const r = await runCli('convert', badPlainPath, '-o', join(dir, 'out-p.tar'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/layer is uncompressed, so its digest .* must equal the config's diff_id/);
    expect(leftovers()).toEqual([]);
  });

  it('a gzip layer that cannot be decompressed is refused', async () => {
    const r = await runCli('convert', brokenPath, '-o', join(dir, 'out-b.tar'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/layer cannot be decompressed: gzip data is corrupt/);
    expect(leftovers()).toEqual([]);
  });

  it('merge, split and the store refuse it too', async () => {
    const m = await runCli('merge', goodPath, badGzipPath, '-o', join(dir, 'out-m.tar'), '--prefer', 'last');
    expect(m.code, m.stderr).toBe(1);
    const s = await runCli('split', badGzipPath, '-o', join(dir, 'out-s/'));
    expect(s.code, s.stderr).toBe(1);
    const store = join(dir, 'out-store');
    const l = await runCli('--store', store, 'load', '-i', badGzipPath);
    expect(l.code, l.stderr).toBe(1);
    // split makes its folder first; nothing is written into it.
    expect(readdirSync(join(dir, 'out-s'))).toEqual([]);
    expect(leftovers().filter((f) => f !== 'out-store' && f !== 'out-s')).toEqual([]);
  });

  it('in codec workers (big copies) as on the main thread', async () => {
    for (const [path, ok] of [[goodPath, true], [badGzipPath, false], [badPlainPath, false], [brokenPath, false]] as const) {
      const source = await openSource(path);
      const out = resolveOutput(join(dir, 'out-w.tar'), {});
      const { sink } = createSink(out);
      const run = copy({ roots: rootsOf(source) }, sink, { pool: workers });
      if (ok) await expect(run).resolves.toMatchObject({ images: 1 });
      else await expect(run).rejects.toThrow(/diff_id|decompressed/);
      await source.close();
      expect(existsSync(join(dir, 'out-w.tar'))).toBe(ok);
      if (ok) expect((await runCli('verify', join(dir, 'out-w.tar'))).code).toBe(0);
      await runCli('untag', join(dir, 'out-w.tar'), 'app:1').catch(() => {});
      if (ok) (await import('node:fs')).rmSync(join(dir, 'out-w.tar'));
    }
  });

  it('a sound archive still converts, compressed layers kept', async () => {
    const r = await runCli('convert', goodPath, '-o', join(dir, 'ok.tar'));
    expect(r.code, r.stderr).toBe(0);
    expect((await runCli('verify', join(dir, 'ok.tar'))).code).toBe(0);
  });
});

describe('zstd layers and outputs', () => {
  const docker = async () => writeTemp(dir, 'd.tar', await tarBuffer(dockerArchiveEntries([good])));
  const layersOf = async (path: string) => (await runCli('inspect', path, '--json')).json().images[0].layers as { diffId: string; mediaType: string; digest: string }[];

  it('--layers zstd writes zstd layers with the same diffIDs, which verify and convert back', async () => {
    const out = join(dir, 'z.tar');
    const r = await runCli('convert', await docker(), '-o', out, '--layers', 'zstd', '--format', 'oci-archive');
    expect(r.code, r.stderr).toBe(0);
    const layers = await layersOf(out);
    expect(layers.map((l) => l.diffId)).toEqual(good.layers.map((l) => l.diffId));
    expect(layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerZstd, MediaType.ociLayerZstd]);
    expect((await runCli('verify', out)).code).toBe(0);
    const back = join(dir, 'z-back.tar');
    expect((await runCli('convert', out, '-o', back, '--layers', 'gzip')).code).toBe(0);
    expect((await layersOf(back)).map((l) => l.diffId)).toEqual(good.layers.map((l) => l.diffId));
  });

  it('is deterministic, and --zstd-level changes the bytes', async () => {
    const src = await docker();
    const big = await buildImage({ names: ['big:1'], layers: [{ files: { f: 'imgpack '.repeat(200_000) + Math.random() } }] });
    const bigPath = writeTemp(dir, 'big.tar', await tarBuffer(ociEntries([big])));
    const w = async (name: string, ...args: string[]) => { expect((await runCli('convert', bigPath, '-o', join(dir, name), '--layers', 'zstd', ...args)).code).toBe(0); return readFileSync(join(dir, name)); };
    expect((await w('z1.tar')).equals(await w('z2.tar'))).toBe(true);
    expect((await w('z19.tar', '--zstd-level', '19')).equals(await w('z3.tar', '--zstd-level', '3'))).toBe(false);
    expect(src).toBeTruthy();
  });

  it('warns once that docker 20.10 cannot read zstd layers in a hybrid or docker-archive', async () => {
    for (const format of ['hybrid', 'docker-archive']) {
      const r = await runCli('convert', await docker(), '-o', join(dir, `zw-${format}.tar`), '--layers', 'zstd', '--format', format);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.match(/^warning: zstd layers in a .*docker 20\.10 cannot load it/gm)).toHaveLength(1);
    }
    const r = await runCli('convert', await docker(), '-o', join(dir, 'zw.oci.tar'), '--layers', 'zstd', '--format', 'oci-archive');
    expect(r.stderr).not.toMatch(/warning/);
  });

  it('--compress zstd and -o x.tar.zst wrap the output in zstd; verify and inspect read it', async () => {
    for (const [name, args] of [['w.tar.zst', []], ['w2.tar', ['--compress', 'zstd']]] as const) {
      const out = join(dir, name);
      const r = await runCli('convert', goodPath, '-o', out, ...args);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(out).subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
      expect((await runCli('verify', out)).code).toBe(0);
    }
  });

  it('a bad --zstd-level is a usage error', async () => {
    for (const level of ['0', '20', 'x', '2.5']) {
      const r = await runCli('convert', goodPath, '-o', join(dir, 'never.tar'), '--layers', 'zstd', '--zstd-level', level);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--zstd-level is a whole number from 1 to 19/);
    }
  });

  it('commit --compress zstd makes the new layer zstd', async () => {
    const add = join(dir, 'add');
    (await import('node:fs')).mkdirSync(add, { recursive: true });
    writeTemp(add, 'hello.txt', 'hello\n');
    const out = join(dir, 'c.tar');
    const r = await runCli('commit', 'scratch', '--add', add, '-t', 'c:1', '-o', out, '--compress', 'zstd', '--format', 'oci-archive');
    expect(r.code, r.stderr).toBe(0);
    expect((await layersOf(out))[0].mediaType).toBe(MediaType.ociLayerZstd);
    expect((await runCli('verify', out)).code).toBe(0);
  });

  it('gzip output of gzipSync-made layers still verifies after --layers gzip (pigz-style chunks)', async () => {
    const out = join(dir, 'g.tar');
    expect((await runCli('convert', await docker(), '-o', out, '--layers', 'gzip')).code).toBe(0);
    expect((await runCli('verify', out)).code).toBe(0);
    expect(gzipSync).toBeTruthy();
  });
});
