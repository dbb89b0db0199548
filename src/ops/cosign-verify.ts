/**
 * Offline checks of cosign signatures and attestations with public keys (`verify --cosign-key`,
 * `load --require-signed`): for every image of a source, the signatures and attestations that
 * refer to its manifest (or to an index that holds it) are read from the source itself and
 * verified with node:crypto, as `cosign verify --key` and `cosign verify-attestation --key` do:
 * - a signature counts when its simple-signing payload names the manifest digest it is attached
 *   to, and its signature over the payload verifies with one of the keys (ECDSA P-256 and RSA
 *   over sha256, Ed25519 over the bytes);
 * - an attestation counts when its DSSE envelope's signature over the pre-authentication
 *   encoding verifies, and its in-toto statement names the image's digest as a subject.
 * Transparency-log bundles and keyless (Fulcio) certificates are not checked here.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fromSystemError, invalid, usage } from '../errors.js';
import type { ArchiveSource } from '../formats/source.js';
import type { ArtifactRecord, ImageRecord } from '../model/catalog.js';
import { DSSE_ENVELOPE, parseEnvelope, preAuthEncoding, predicateTypeOf, SIGNATURE_ANNOTATION, SIMPLE_SIGNING, signedDigestOf, statementOf } from '../model/cosign.js';
import { keyIdOf } from './signing.js';
import { describeImage } from './select.js';

export interface CosignKey {
  path: string;
  key: KeyObject;
  /** The first 16 hex digits of the sha256 of the key's SPKI DER, as imgpack names keys. */
  keyId: string;
}

export interface ImageVerdict {
  image: string;
  id: string;
  /** The manifest (and index) digests signatures may name. */
  digests: string[];
  status: 'signed' | 'unsigned' | 'bad-signature';
  /** Key ids whose signatures verified. */
  signedBy: string[];
  attestations: { predicateType: string; signedBy: string }[];
  /** Why the image fails what was asked (empty when it passes). */
  problems: string[];
}

export interface CosignReport {
  ok: boolean;
  images: ImageVerdict[];
}

export interface CosignVerifyOptions {
  keys: CosignKey[];
  /** Predicate types (cosign's short names or URIs) that every image must have a valid attestation of. */
  attestationTypes?: string[];
}

/** A cosign public key (cosign.pub: PEM SPKI; ECDSA P-256, Ed25519 or RSA). */
export function readCosignKey(path: string): CosignKey {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (e) {
    throw fromSystemError(e, path);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw usage('bad-key', 'not a PEM public key (cosign.pub, as cosign generate-key-pair writes it)', path);
  }
  if (!['ec', 'ed25519', 'rsa'].includes(key.asymmetricKeyType ?? '')) throw usage('bad-key', `a ${key.asymmetricKeyType} key: cosign keys are ECDSA P-256, Ed25519 or RSA`, path);
  return { path, key, keyId: keyIdOf(key) };
}

const MAX_SIGNED_BLOB = 64 << 20;

export async function verifyCosign(source: ArchiveSource, opts: CosignVerifyOptions): Promise<CosignReport> {
  const wanted = (opts.attestationTypes ?? []).map(predicateTypeOf);
  const images: ImageVerdict[] = [];
  for (const image of source.catalog.images) images.push(await verifyImage(source, image, opts.keys, wanted));
  return { ok: images.every((i) => i.problems.length === 0), images };
}

async function verifyImage(source: ArchiveSource, image: ImageRecord, keys: CosignKey[], wanted: string[]): Promise<ImageVerdict> {
  const own = image.manifests.flatMap((m) => (m.digest ? [m.digest] : []));
  const holders = source.catalog.indexes.filter((i) => i.children.some((c) => own.includes(c.descriptor.digest))).map((i) => i.digest);
  const digests = [...own, ...holders];
  const verdict: ImageVerdict = { image: describeImage(image), id: image.id, digests, status: 'unsigned', signedBy: [], attestations: [], problems: [] };
  const attached = source.catalog.artifacts.filter((a) => a.refersTo && digests.includes(a.refersTo));
  const badSignatures: string[] = [];
  for (const a of attached) {
    for (const layer of a.json.layers ?? []) {
      if (layer.mediaType === SIMPLE_SIGNING) {
        const why = await checkSignature(source, a, layer, keys, verdict);
        if (why) badSignatures.push(why);
      } else if (layer.mediaType === DSSE_ENVELOPE) {
        await checkAttestation(source, a, layer, keys, digests, verdict);
      }
    }
  }
  if (verdict.signedBy.length) verdict.status = 'signed';
  else if (badSignatures.length) {
    verdict.status = 'bad-signature';
    verdict.problems.push(...badSignatures);
  } else verdict.problems.push('no cosign signature');
  for (const type of wanted) {
    if (!verdict.attestations.some((x) => x.predicateType === type)) verdict.problems.push(`no valid attestation of type ${type}`);
  }
  return verdict;
}

/** Undefined when the signature verifies (its key is recorded), else why not. */
async function checkSignature(source: ArchiveSource, a: ArtifactRecord, layer: { digest: string; size: number; annotations?: Record<string, string> }, keys: CosignKey[], verdict: ImageVerdict): Promise<string | undefined> {
  const sig = layer.annotations?.[SIGNATURE_ANNOTATION];
  if (!sig) return `signature ${a.digest.slice(0, 19)} has no ${SIGNATURE_ANNOTATION} annotation`;
  const payload = await readBlob(source, layer.digest, layer.size);
  if (!payload) return `signature ${a.digest.slice(0, 19)}: its payload ${layer.digest.slice(0, 19)} is missing`;
  const signed = signedDigestOf(payload);
  if ('problem' in signed) return `signature ${a.digest.slice(0, 19)}: ${signed.problem}`;
  if (signed.digest !== a.refersTo) return `signature ${a.digest.slice(0, 19)} is of ${signed.digest}, not of the manifest it is attached to (${a.refersTo})`;
  const key = keys.find((k) => verifies(k.key, payload, Buffer.from(sig, 'base64')));
  if (!key) return `signature ${a.digest.slice(0, 19)} does not verify with ${keys.map((k) => k.path).join(', ')}`;
  if (!verdict.signedBy.includes(key.keyId)) verdict.signedBy.push(key.keyId);
  return undefined;
}

async function checkAttestation(source: ArchiveSource, a: ArtifactRecord, layer: { digest: string; size: number }, keys: CosignKey[], digests: string[], verdict: ImageVerdict): Promise<void> {
  const bytes = await readBlob(source, layer.digest, layer.size);
  const envelope = bytes && parseEnvelope(bytes);
  if (!envelope) return;
  const payload = Buffer.from(envelope.payload, 'base64');
  const pae = preAuthEncoding(envelope.payloadType, payload);
  const key = keys.find((k) => envelope.signatures.some((s) => verifies(k.key, pae, Buffer.from(s.sig, 'base64'))));
  const statement = statementOf(payload);
  if (!key || !statement || !statement.subjects.some((s) => digests.includes(s))) return;
  verdict.attestations.push({ predicateType: statement.predicateType, signedBy: key.keyId });
}

function verifies(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return key.asymmetricKeyType === 'ed25519' ? verify(null, data, key, signature) : verify('sha256', data, key, signature);
  } catch {
    return false; // a malformed signature verifies nothing
  }
}

async function readBlob(source: ArchiveSource, digest: string, size: number): Promise<Buffer | undefined> {
  if (size > MAX_SIGNED_BLOB) return undefined;
  try {
    const chunks: Buffer[] = [];
    for await (const c of await source.openBlob(digest)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  } catch {
    return undefined; // absent (a delta left it out): reported as missing by the caller
  }
}

/**
 * `load --require-signed`: refuses the whole input, before anything is added, when one of its
 * images has no cosign signature that verifies with one of the keys.
 */
export async function requireSigned(sources: ArchiveSource[], keys: CosignKey[]): Promise<CosignReport[]> {
  const reports: CosignReport[] = [];
  for (const source of sources) {
    const report = await verifyCosign(source, { keys });
    const failed = report.images.find((i) => i.status !== 'signed');
    if (failed) throw invalid('not-signed', `${failed.image} is not validly signed: ${failed.problems.join('; ')}; nothing was loaded`, source.display);
    reports.push(report);
  }
  return reports;
}
