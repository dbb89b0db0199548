/**
 * A cut copy is called truncated, by every command that reads it, naming where it ends (CLI.md):
 * docker save writes manifest.json last, so a cut would otherwise read as "not an image archive".
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, ociEntries, tarBuffer, writeEntriesToDir } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { runProcess } from '../helpers/spawn.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const app = await buildImage({ names: ['team/app:1'], layers: [{ files: { big: randomBytes(300_000).toString('base64') } }, { files: { app: 'v1' } }] }, 'docker');
const whole = await tarBuffer(dockerArchiveEntries([app]));
// Where the big layer's bytes are in the archive, found independently of the reader.
const layer = app.layers[0].uncompressed;
const layerAt = whole.indexOf(layer);
const layerMember = whole.subarray(layerAt - 512, layerAt - 412).toString('latin1').replace(/\0.*$/s, '');
const cutAt = layerAt + 100_000;
const cut = writeTemp(dir, 'cut.tar', whole.subarray(0, cutAt));
const inside = `it ends inside member ${layerMember} (byte 100000 of a member that needs ${layer.length}); the copy is incomplete`;

describe('a truncated archive is called truncated', () => {
  it('by verify, inspect, convert, load and push, first and naming the member and the bytes (exit 1)', async () => {
    const line = `imgpack: ${cut} is truncated: ${inside}\n`;
    const inspect = await runCli('inspect', cut);
    expect([inspect.code, inspect.stderr]).toEqual([1, line]);
    const convert = await runCli('convert', cut, '-o', join(dir, 'out.tar'));
    expect([convert.code, convert.stderr]).toEqual([1, line]);
    const load = await runCli('--store', join(dir, 'store'), 'load', '-i', cut);
    expect([load.code, load.stderr]).toEqual([1, line]);
    const push = await runCli('push', cut, '--to', '127.0.0.1:9/x'); // refused before any connection
    expect([push.code, push.stderr]).toEqual([1, line]);
    const verify = await runCli('verify', cut);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toBe(`problem: ${cut} is truncated: ${inside} (${cut})\n`);
    const json = (await runCli('verify', cut, '--json')).json();
    expect(json.problems.map((p: { code: string }) => p.code)).toEqual(['truncated']);
  });

  it('a cut .tar.gz: its gzip data ends early, inside the member', async () => {
    const gz = gzipSync(whole);
    const file = writeTemp(dir, 'cut.tar.gz', gz.subarray(0, Math.floor(gz.length * 0.6)));
    const r = await runCli('inspect', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^imgpack: ${file} is truncated: its gzip data ends early, inside member ${layerMember} \\(byte \\d+ of a member that needs ${layer.length}\\); the copy is incomplete\\n$`));
    // Cut in its last bytes (the gzip trailer), every tar member is whole but the check is gone.
    const tail = writeTemp(dir, 'tail.tar.gz', gz.subarray(0, gz.length - 4));
    expect((await runCli('verify', tail)).stderr).toContain(`${tail} is truncated: its gzip data ends early, after the end of the tar data (its check is missing)`);
  });

  it('standard input cut short is named as such', () => {
    const r = runProcess(['--store', join(dir, 'stdin-store'), 'load'], {}, whole.subarray(0, cutAt));
    expect([r.code, r.stderr]).toEqual([1, `imgpack: standard input is truncated: ${inside}\n`]);
  });

  it('a cut at a member boundary before manifest.json: no end blocks and no manifest is a cut, not the wrong file', async () => {
    const boundary = layerAt + layer.length + ((512 - (layer.length % 512)) % 512);
    const file = writeTemp(dir, 'boundary.tar', whole.subarray(0, boundary));
    const r = await runCli('inspect', file);
    expect([r.code, r.stderr]).toEqual([1, `imgpack: ${file} is truncated: it ends after member ${layerMember} at byte ${boundary}, without the end-of-archive blocks, and there is no manifest.json, index.json or oci-layout; the copy is incomplete\n`]);
    const header = writeTemp(dir, 'in-header.tar', whole.subarray(0, boundary + 100));
    expect((await runCli('inspect', header)).stderr).toBe(`imgpack: ${header} is truncated: it ends inside the header at byte ${boundary} (byte 100 of 512); the copy is incomplete\n`);
  });

  it('a whole archive without its end blocks is read, with a warning; a cut inside the end blocks is whole', async () => {
    const end = whole.length - 1024; // our writer ends with exactly two zero blocks
    expect(whole.subarray(end).every((b) => b === 0)).toBe(true);
    const noEnd = writeTemp(dir, 'no-end.tar', whole.subarray(0, end));
    const v = await runCli('verify', noEnd);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).toBe(`warning: tar archive has no end-of-archive blocks: a tool that omits them wrote it, or it was cut short after member repositories; every member it names is there (offset ${end})\n`);
    const half = writeTemp(dir, 'half-end.tar', whole.subarray(0, end + 700));
    const h = await runCli('verify', half);
    expect([h.code, h.stderr]).toEqual([0, '']);
  });

  it('an OCI archive cut before index.json, and a layout directory whose blob was cut short', async () => {
    const oci = await tarBuffer(ociEntries([app]));
    const at = oci.indexOf(layer) + 5;
    const file = writeTemp(dir, 'oci-cut.tar', oci.subarray(0, at));
    expect((await runCli('inspect', file)).stderr).toBe(`imgpack: ${file} is truncated: it ends inside member blobs/sha256/${app.layers[0].digest.slice(7)} (byte 5 of a member that needs ${layer.length}); the copy is incomplete\n`);
    const layout = join(dir, 'layout');
    mkdirSync(layout);
    await writeEntriesToDir(ociEntries([app]), layout);
    truncateSync(join(layout, 'blobs', 'sha256', app.layers[0].digest.slice(7)), 1000);
    const v = await runCli('verify', layout);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(`problem: blobs/sha256/${app.layers[0].digest.slice(7)} is truncated: 1000 of the ${layer.length} bytes its descriptor gives (${layer.length - 1000} missing)`);
  });

  it('volumes: without a manifest the cut shows at the last volume found; with one, each short volume says how many bytes are missing', async () => {
    const folder = join(dir, 'vol');
    mkdirSync(folder);
    const src = writeTemp(dir, 'whole.tar', whole);
    const target = join(folder, 'b.tar');
    expect((await runCli('convert', src, '-o', target, '--volume-size', '1M', '--format', 'docker-archive')).code).toBe(0);
    // One volume (the archive is under 1 MiB): cut it, with and without the manifest.
    const v1 = readFileSync(`${target}.001`);
    writeFileSync(`${target}.001`, v1.subarray(0, cutAt));
    const withManifest = await runCli('load', '-i', `${target}.001`, '--store', join(dir, 'vstore'));
    expect([withManifest.code, withManifest.stderr]).toEqual([1, `imgpack: the copy of the volumes is incomplete, nothing was read: b.tar.001 is truncated: ${cutAt} of the ${v1.length} bytes the manifest gives (${v1.length - cutAt} missing) (${target}.001)\n`]);
    const { rmSync } = await import('node:fs');
    rmSync(`${target}.imgpack.json`);
    const without = await runCli('inspect', `${target}.001`);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(new RegExp(`^imgpack: ${target}\\.001 is truncated: it ends inside member \\S+/layer\\.tar \\(byte \\d+ of a member that needs ${layer.length}\\), at the end of b\\.tar\\.001, the last volume found \\(one after it may be missing\\); the copy is incomplete\\n$`));
  });
});
