/**
 * cosign's formats, as cosign 2.x writes them (sigstore/cosign pkg/oci and pkg/types):
 * - a signature is a layer `application/vnd.dev.cosign.simplesigning.v1+json` whose bytes are the
 *   simple-signing payload and whose annotation `dev.cosignproject.cosign/signature` is the
 *   base64 signature of those bytes;
 * - an attestation is a layer `application/vnd.dsse.envelope.v1+json`: a DSSE envelope whose
 *   payload is an in-toto statement, signed over DSSE's pre-authentication encoding (PAE).
 */
export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const DSSE_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
export const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';

/** cosign's short names for --type / --attestation-type, and the predicate types they stand for. */
export const PREDICATE_TYPES: Record<string, string> = {
  custom: 'https://cosign.sigstore.dev/attestation/v1',
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  link: 'https://in-toto.io/Link/v1',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
};

/** A short name as cosign takes it, else the predicate type URI itself. */
export function predicateTypeOf(name: string): string {
  return PREDICATE_TYPES[name] ?? name;
}

/** The manifest digest a simple-signing payload vouches for, or a reason it is unreadable. */
export function signedDigestOf(payload: Buffer): { digest: string } | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return { problem: 'the signed payload is not JSON' };
  }
  const digest = (json as { critical?: { image?: { 'docker-manifest-digest'?: unknown } } })?.critical?.image?.['docker-manifest-digest'];
  return typeof digest === 'string' ? { digest } : { problem: 'the signed payload names no critical.image.docker-manifest-digest' };
}

export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: { keyid?: string; sig: string }[];
}

export function parseEnvelope(bytes: Buffer): DsseEnvelope | undefined {
  try {
    const e = JSON.parse(bytes.toString('utf8')) as DsseEnvelope;
    if (typeof e?.payloadType !== 'string' || typeof e.payload !== 'string' || !Array.isArray(e.signatures)) return undefined;
    return e;
  } catch {
    return undefined;
  }
}

/** DSSE's pre-authentication encoding: what a DSSE signature signs. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** The in-toto statement of an attestation: its predicate type and the sha256 digests of its subjects. */
export function statementOf(payload: Buffer): { predicateType: string; subjects: string[] } | undefined {
  try {
    const s = JSON.parse(payload.toString('utf8')) as { predicateType?: unknown; subject?: { digest?: Record<string, unknown> }[] };
    if (typeof s?.predicateType !== 'string' || !Array.isArray(s.subject)) return undefined;
    return { predicateType: s.predicateType, subjects: s.subject.flatMap((x) => (typeof x?.digest?.sha256 === 'string' ? [`sha256:${x.digest.sha256}`] : [])) };
  } catch {
    return undefined;
  }
}
