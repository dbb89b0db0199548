/**
 * Signed transfer manifests. A sha256 catches corruption, not tampering: whoever can rewrite a
 * volume can rewrite its checksum too. An Ed25519 signature over the exact bytes of
 * FILE.imgpack.json (which pins every volume's sha256, the images and every blob) can be made only
 * with the private key, and is checked with the public one before anything is read.
 *
 * Files: KEY (PKCS#8 PEM, mode 0600) and KEY.pub (SPKI PEM) from `imgpack key generate`;
 * FILE.imgpack.json.sig: `{ "kind": "imgpack-signature", "version": 1, "algorithm": "ed25519",
 * "keyId": "<first 16 hex of sha256 of the public key's DER>", "signature": "<base64>" }`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { writeFileAtomically } from '../io/atomic.js';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { fromSystemError, invalid, usage } from '../errors.js';
import { findVolumeSet, manifestPathFor, manifestPathOf, type TransferManifest } from '../io/volumes.js';

export const SIGNATURE_SUFFIX = '.sig';

export interface SignatureFile {
  kind: 'imgpack-signature';
  version: 1;
  algorithm: 'ed25519';
  keyId: string;
  signature: string;
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}


export function generateKey(path: string): { privateKey: string; publicKey: string; keyId: string } {
  const pub = `${path}.pub`;
  for (const p of [path, pub]) if (existsSync(p)) throw usage('output-exists', 'a key is never overwritten; remove it first or choose another name', p);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileAtomically(path, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  writeFileAtomically(pub, publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644);
  return { privateKey: path, publicKey: pub, keyId: keyIdOf(publicKey) };
}

function readKey(path: string, kind: 'private' | 'public'): KeyObject {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (e) {
    throw fromSystemError(e, path);
  }
  try {
    const key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
    return key;
  } catch {
    throw usage('bad-key', `not an Ed25519 ${kind} key in PEM form (imgpack key generate makes one)`, path);
  }
}

/** The private key, refused when others may read it (checked before anything is written). */
export function checkSigningKey(keyPath: string): KeyObject {
  const key = readKey(keyPath, 'private');
  if (process.platform !== 'win32' && (statSync(keyPath).mode & 0o077) !== 0) {
    throw usage('key-permissions', 'the private key is readable by others; chmod 600 it', keyPath);
  }
  return key;
}

/** Signs FILE.imgpack.json's exact bytes into FILE.imgpack.json.sig. */
export function signManifest(manifestPath: string, keyPath: string): { signature: string; keyId: string } {
  const key = checkSigningKey(keyPath);
  const bytes = readFileSync(manifestPath);
  const keyId = keyIdOf(createPublicKey(key));
  const doc: SignatureFile = { kind: 'imgpack-signature', version: 1, algorithm: 'ed25519', keyId, signature: sign(null, bytes, key).toString('base64') };
  const path = manifestPath + SIGNATURE_SUFFIX;
  writeFileAtomically(path, JSON.stringify(doc, null, 2) + '\n', 0o644);
  return { signature: path, keyId };
}

/**
 * Checks the signature of the bundle `spec` names (FILE.001, FILE.imgpack.json, or a single FILE
 * with FILE.imgpack.json beside it) against a trusted public key, before anything is read.
 * Returns what to open: the transfer manifest, so that every sha256 it pins is checked too.
 */
export function checkTrust(spec: string, publicKeyPath: string): { open: string; manifest: TransferManifest; keyId: string } {
  const key = readKey(publicKeyPath, 'public');
  const set = findVolumeSet(spec);
  const manifestPath = set ? manifestPathOf(set.base) : manifestPathFor(spec);
  if (!existsSync(manifestPath)) throw invalid('unsigned', 'no transfer manifest, so no signature: the bundle cannot be trusted', manifestPath);
  const bytes = readFileSync(manifestPath);
  const sigPath = manifestPath + SIGNATURE_SUFFIX;
  if (!existsSync(sigPath)) throw invalid('signature-missing', 'the bundle is not signed: refused', sigPath);
  let doc: Partial<SignatureFile>;
  try {
    doc = JSON.parse(readFileSync(sigPath, 'utf8'));
  } catch {
    throw invalid('bad-signature', 'the signature file is not valid JSON: refused', sigPath);
  }
  if (doc.kind !== 'imgpack-signature' || doc.version !== 1 || doc.algorithm !== 'ed25519' || typeof doc.signature !== 'string') {
    throw invalid('bad-signature', 'not an imgpack Ed25519 signature: refused', sigPath);
  }
  const trusted = keyIdOf(key);
  if (doc.keyId !== trusted) throw invalid('signature-wrong-key', `signed by key ${String(doc.keyId)}, not by the trusted key ${trusted}: refused`, sigPath);
  if (!verify(null, bytes, key, Buffer.from(doc.signature, 'base64'))) {
    throw invalid('signature-bad', 'the signature does not match the transfer manifest: it was altered after signing; refused', sigPath);
  }
  const manifest = JSON.parse(bytes.toString('utf8')) as TransferManifest;
  if (!set && !manifest.volumes?.some((v) => v.name === basename(spec))) {
    throw invalid('signature-other-file', `the signed manifest does not describe ${basename(spec)}`, manifestPath);
  }
  return { open: manifestPath, manifest, keyId: trusted };
}
