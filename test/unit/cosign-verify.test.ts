/**
 * Offline cosign checks with keys made here (ECDSA P-256, Ed25519, RSA), over archives that carry
 * cosign-style signatures and attestations beside their image: each way a signature can fail is
 * refused with a reason naming the image; `load --require-signed` adds nothing then.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSource } from '../../src/formats/source.js';
import { MediaType } from '../../src/model/media-types.js';
import { DSSE_ENVELOPE, preAuthEncoding, SIGNATURE_ANNOTATION, SIMPLE_SIGNING } from '../../src/model/cosign.js';
import { readCosignKey, verifyCosign } from '../../src/ops/cosign-verify.js';
import { buildImage, ociEntries, sha256, tarBuffer, type BuiltBlob } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const image = await buildImage({ names: ['registry.example/team/app:1'], layers: [{ files: { app: 'v1' } }] });
const other = await buildImage({ names: ['registry.example/team/other:1'], layers: [{ files: { other: 'v1' } }] });

function keyPair(kind: 'ec' | 'ed25519' | 'rsa', name: string) {
  const { privateKey, publicKey } = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  const pub = writeTemp(dir, `${name}.pub`, publicKey.export({ type: 'spki', format: 'pem' }) as string);
  return { privateKey, pub };
}
const signWith = (key: KeyObject, data: Buffer) => sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key);
const blob = (data: Buffer | string, mediaType = 'application/octet-stream'): BuiltBlob => {
  const d = Buffer.from(data);
  return { data: d, digest: sha256(d), mediaType } as BuiltBlob;
};

/** A cosign signature manifest for `subject`, whose payload names `signedDigest`. */
function signature(subject: string, signedDigest: string, key: KeyObject, tamper = false) {
  const payload = blob(JSON.stringify({ critical: { identity: { 'docker-reference': 'registry.example/team/app' }, image: { 'docker-manifest-digest': signedDigest }, type: 'cosign container image signature' }, optional: null }), SIMPLE_SIGNING);
  const sig = signWith(key, payload.data);
  if (tamper) sig[sig.length - 1] ^= 1;
  return artifact(subject, [{ mediaType: SIMPLE_SIGNING, digest: payload.digest, size: payload.data.length, annotations: { [SIGNATURE_ANNOTATION]: sig.toString('base64') } }], [payload], 'sig');
}

/** A cosign attestation (DSSE, in-toto statement) for `subject`. */
function attestation(subject: string, predicateType: string, key: KeyObject) {
  const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', predicateType, subject: [{ name: 'registry.example/team/app', digest: { sha256: subject.slice(7) } }], predicate: {} }));
  const type = 'application/vnd.in-toto+json';
  const envelope = blob(JSON.stringify({ payloadType: type, payload: statement.toString('base64'), signatures: [{ keyid: '', sig: signWith(key, preAuthEncoding(type, statement)).toString('base64') }] }), DSSE_ENVELOPE);
  return artifact(subject, [{ mediaType: DSSE_ENVELOPE, digest: envelope.digest, size: envelope.data.length, annotations: { predicateType } }], [envelope], 'att');
}

function artifact(subject: string, layers: object[], blobs: BuiltBlob[], suffix: string) {
  const config = blob('{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}', MediaType.ociConfig);
  const manifest = blob(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.data.length }, layers }), MediaType.ociManifest);
  const name = `registry.example/team/app:${subject.replace(':', '-')}.${suffix}`;
  return { blobs: [config, manifest, ...blobs], descriptor: { mediaType: MediaType.ociManifest, digest: manifest.digest, size: manifest.data.length, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name } } };
}

async function archive(name: string, attached: { blobs: BuiltBlob[]; descriptor: object }[], images = [image]) {
  const named = (img: typeof image) => ({ mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.data.length, annotations: { 'io.containerd.image.name': img.spec.names![0], 'org.opencontainers.image.ref.name': img.spec.names![0] } });
  const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...images.map(named), ...attached.map((a) => a.descriptor)] };
  return writeTemp(dir, name, await tarBuffer(ociEntries(images, { extraBlobs: attached.flatMap((a) => a.blobs), index })));
}

async function verdicts(path: string, keys: string[], attestationTypes?: string[]) {
  const source = await openSource(path);
  try {
    return await verifyCosign(source, { keys: keys.map(readCosignKey), attestationTypes });
  } finally {
    await source.close();
  }
}

describe('verify --cosign-key', () => {
  for (const kind of ['ec', 'ed25519', 'rsa'] as const) {
    it(`accepts a signature made with a ${kind} key, and names the key`, async () => {
      const k = keyPair(kind, `good-${kind}`);
      const path = await archive(`signed-${kind}.tar`, [signature(image.manifest.digest, image.manifest.digest, k.privateKey)]);
      const r = await verdicts(path, [k.pub]);
      expect(r.ok).toBe(true);
      expect(r.images[0]).toMatchObject({ image: 'registry.example/team/app:1', status: 'signed', signedBy: [readCosignKey(k.pub).keyId], problems: [] });
    });
  }

  it('refuses a tampered signature, a signature of another digest, a wrong key and a missing signature, each naming the image', async () => {
    const k = keyPair('ec', 'main');
    const wrong = keyPair('ec', 'wrong');
    const tampered = await archive('tampered.tar', [signature(image.manifest.digest, image.manifest.digest, k.privateKey, true)]);
    const otherDigest = await archive('other-digest.tar', [signature(image.manifest.digest, other.manifest.digest, k.privateKey)]);
    const unsigned = await archive('unsigned.tar', []);
    const signed = await archive('signed.tar', [signature(image.manifest.digest, image.manifest.digest, k.privateKey)]);
    const cases: [string, string, string, RegExp][] = [
      [tampered, k.pub, 'bad-signature', /does not verify with/],
      [otherDigest, k.pub, 'bad-signature', new RegExp(`is of ${other.manifest.digest}, not of the manifest it is attached to`)],
      [signed, wrong.pub, 'bad-signature', /does not verify with .*wrong\.pub/],
      [unsigned, k.pub, 'unsigned', /no cosign signature/],
    ];
    for (const [path, key, status, why] of cases) {
      const r = await verdicts(path, [key]);
      expect(r.ok, path).toBe(false);
      expect(r.images[0].status, path).toBe(status);
      expect(r.images[0].problems.join('; '), path).toMatch(why);
      const cli = await runCli('verify', path, '--cosign-key', key);
      expect(cli.code, path).toBe(1);
      expect(cli.stdout).toContain('cosign: registry.example/team/app:1: ');
      const store = join(dir, `store-${status}-${cases.findIndex((c) => c[0] === path)}`);
      const load = await runCli('--store', store, 'load', '-i', path, '--require-signed', key);
      expect(load.code, path).toBe(1);
      expect(load.stderr).toMatch(new RegExp(`^imgpack: registry.example/team/app:1 is not validly signed: .*; nothing was loaded \\(${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)\n$`));
      expect(existsSync(join(store, 'index.json'))).toBe(false);
    }
    expect((await runCli('--store', join(dir, 'store-ok'), 'load', '-i', signed, '--require-signed', wrong.pub, '--require-signed', k.pub)).code).toBe(0);
  });

  it('checks attestations: type (cosign\'s short names), signature and subject', async () => {
    const k = keyPair('ec', 'att');
    const path = await archive('attested.tar', [signature(image.manifest.digest, image.manifest.digest, k.privateKey), attestation(image.manifest.digest, 'https://spdx.dev/Document', k.privateKey)]);
    const r = await verdicts(path, [k.pub], ['spdxjson']);
    expect(r.ok).toBe(true);
    expect(r.images[0].attestations).toEqual([{ predicateType: 'https://spdx.dev/Document', signedBy: readCosignKey(k.pub).keyId }]);
    const missing = await verdicts(path, [k.pub], ['slsaprovenance']);
    expect(missing.images[0].problems).toEqual(['no valid attestation of type https://slsa.dev/provenance/v0.2']);
    const wrong = keyPair('ec', 'att-wrong');
    const byOther = await archive('attested-other.tar', [signature(image.manifest.digest, image.manifest.digest, k.privateKey), attestation(image.manifest.digest, 'https://spdx.dev/Document', wrong.privateKey)]);
    expect((await verdicts(byOther, [k.pub], ['spdxjson'])).images[0].problems).toEqual(['no valid attestation of type https://spdx.dev/Document']);
  });

  it('refuses a file that is not a public key (exit 2)', async () => {
    const bad = writeTemp(dir, 'bad.pub', 'not a key');
    const r = await runCli('verify', await archive('any.tar', []), '--cosign-key', bad);
    expect([r.code, r.stderr]).toEqual([2, `imgpack: not a PEM public key (cosign.pub, as cosign generate-key-pair writes it) (${bad})\n`]);
  });
});
