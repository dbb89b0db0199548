/**
 * Signed transfer manifests: key generate (private key 0600), save --sign for volumes and for a
 * single file; verify/load --trust accept a good signature and refuse, before reading anything,
 * a missing one, one by another key, an altered manifest, and altered volumes under a good one.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const img = await buildImage({ names: ['signed:1'], layers: [{ files: { a: 'x'.repeat(300_000) } }] }, 'docker');
const archive = writeTemp(dir, 'in.tar', await tarBuffer(dockerArchiveEntries([img])));
const key = join(dir, 'keys', 'release.key');
const other = join(dir, 'keys', 'other.key');
mkdirSync(join(dir, 'keys'));
mkdirSync(join(dir, 'usb'));
const set = join(dir, 'usb', 'bundle.tar');
const single = join(dir, 'single.tar');

describe('signing', () => {
  it('key generate writes KEY (0600) and KEY.pub, and never overwrites', async () => {
    const r = await runCli('key', 'generate', '-o', key, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ privateKey: key, publicKey: `${key}.pub`, keyId: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${key}.pub`, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect((await runCli('key', 'generate', '-o', key)).code).toBe(2);
    expect((await runCli('key', 'generate', '-o', other)).code).toBe(0);
  });

  it('save --sign signs the transfer manifest; verify and load --trust accept it', async () => {
    const r = await runCli('convert', archive, '-o', set, '--volume-size', '1M', '--sign', key);
    expect(r.code, r.stderr).toBe(0);
    const sig = JSON.parse(readFileSync(`${set}.imgpack.json.sig`, 'utf8'));
    expect(sig).toMatchObject({ kind: 'imgpack-signature', version: 1, algorithm: 'ed25519', keyId: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(Buffer.from(sig.signature, 'base64').length).toBe(64);
    const manifest = JSON.parse(readFileSync(`${set}.imgpack.json`, 'utf8'));
    expect(manifest.blobs.map((b: { digest: string }) => b.digest)).toEqual(expect.arrayContaining([img.config.digest, img.layers[0].diffId]));
    const v = await runCli('verify', `${set}.001`, '--trust', `${key}.pub`);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(`signed by ${sig.keyId}`);
    const load = await runCli('--store', join(dir, 'store-ok'), 'load', '-i', `${set}.001`, '--trust', `${key}.pub`);
    expect([load.code, load.stdout]).toEqual([0, 'Loaded image: signed:1\n']);
  });

  it('a single-file archive is signed through FILE.imgpack.json, which pins its sha256', async () => {
    expect((await runCli('convert', archive, '-o', single, '--sign', key)).code).toBe(0);
    expect(JSON.parse(readFileSync(`${single}.imgpack.json`, 'utf8')).volumes).toEqual([{ name: 'single.tar', size: statSync(single).size, sha256: expect.stringMatching(/^sha256:/) }]);
    expect((await runCli('verify', single, '--trust', `${key}.pub`)).code).toBe(0);
    const altered = readFileSync(single);
    altered[2000] ^= 1;
    writeFileSync(single, altered);
    const v = await runCli('verify', single, '--trust', `${key}.pub`);
    expect(v.code).toBe(1);
    expect(v.stdout + v.stderr).toContain('single.tar: sha256 mismatch');
  });

  it('refuses a wrong key, an altered manifest, a missing signature, before loading anything', async () => {
    const store = join(dir, 'store-refused');
    const wrong = await runCli('--store', store, 'load', '-i', `${set}.001`, '--trust', `${other}.pub`);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^imgpack: signed by key [0-9a-f]{16}, not by the trusted key [0-9a-f]{16}: refused \(.*bundle\.tar\.imgpack\.json\.sig\)\n$/);

    writeFileSync(`${set}.imgpack.json`, readFileSync(`${set}.imgpack.json`, 'utf8').replace('docker.io/library/signed:1', 'docker.io/library/evil:1'));
    const tampered = await runCli('--store', store, 'load', '-i', `${set}.001`, '--trust', `${key}.pub`);
    expect([tampered.code, tampered.stderr]).toEqual([1, `imgpack: the signature does not match the transfer manifest: it was altered after signing; refused (${set}.imgpack.json.sig)\n`]);

    rmSync(`${set}.imgpack.json.sig`);
    const unsigned = await runCli('verify', `${set}.001`, '--trust', `${key}.pub`);
    expect([unsigned.code, unsigned.stderr]).toEqual([1, `imgpack: the bundle is not signed: refused (${set}.imgpack.json.sig)\n`]);
    expect(existsSync(join(store, 'index.json'))).toBe(false);

    const noManifest = await runCli('verify', archive, '--trust', `${key}.pub`);
    expect(noManifest.code).toBe(1);
    expect(noManifest.stderr).toContain('no transfer manifest, so no signature');
  });

  it('refuses a private key others can read', async () => {
    chmodSync(other, 0o644);
    const r = await runCli('convert', archive, '-o', join(dir, 'x.tar'), '--sign', other);
    expect([r.code, r.stderr]).toEqual([2, `imgpack: the private key is readable by others; chmod 600 it (${other})\n`]);
    expect(existsSync(join(dir, 'x.tar'))).toBe(false);
  });
});
