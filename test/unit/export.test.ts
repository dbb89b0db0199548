import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { extract } from 'tar-stream';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildImage, ociEntries, tarBuffer, type ImageSpec } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();

async function listTar(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const ex = extract();
  Readable.from([readFileSync(path)]).pipe(ex as unknown as NodeJS.WritableStream);
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out[e.header.name] = e.header.type === 'directory' ? '<dir>' : Buffer.concat(chunks).toString();
  }
  return out;
}

describe('export', () => {
  it('applies layers in order with whiteouts and opaque directories', async () => {
    const spec: ImageSpec = {
      names: ['fs:1'],
      layers: [
        { files: { 'a/x': 'x0', 'a/y': 'y0', 'b/z': 'z0', 'keep/k': 'k0', 'gone/g': 'g0' } },
        { files: { 'a/.wh.x': '', 'a/y': 'y1', 'c/new': 'n1', '.wh.gone': '' } },
        { files: { 'b/.wh..wh..opq': '', 'b/w': 'w2' }, compression: 'gzip' },
      ],
    };
    const img = await buildImage(spec);
    const archive = writeTemp(dir, 'fs.tar', await tarBuffer(ociEntries([img])));
    const out = join(dir, 'rootfs.tar');
    const r = await runCli('export', archive, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(await listTar(out)).toEqual({
      'a/': '<dir>', 'b/': '<dir>', 'c/': '<dir>', 'keep/': '<dir>',
      'a/y': 'y1', 'b/w': 'w2', 'c/new': 'n1', 'keep/k': 'k0',
    });
  });

  it('never writes a path that climbs out of the root', async () => {
    const img = await buildImage({ layers: [{ files: { '../../etc/evil': 'x', 'ok': 'fine' } }] });
    const archive = writeTemp(dir, 'evil.tar', await tarBuffer(ociEntries([img])));
    const out = join(dir, 'safe.tar');
    const r = await runCli('export', archive, '-o', out);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('skipped ../../etc/evil: climbs out of the root');
    expect(Object.keys(await listTar(out))).toEqual(['ok']);
  });

  it('asks which image when the source holds several', async () => {
    const a = await buildImage({ names: ['a:1'], layers: [{ files: { a: 'a' } }] });
    const b = await buildImage({ names: ['b:1'], layers: [{ files: { b: 'b' } }] });
    const archive = writeTemp(dir, 'two.tar', await tarBuffer(ociEntries([a, b])));
    const r = await runCli('export', archive, '-o', join(dir, 'x.tar'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds 2 images .* choose one with --image/);
    expect((await runCli('export', archive, '--image', 'b:1', '-o', join(dir, 'b.tar'))).code).toBe(0);
  });
});
