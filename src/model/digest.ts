import { createHash } from 'node:crypto';
import { invalid } from '../errors.js';

/** The OCI-registered algorithms and the length of their hex encodings. */
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

export type Digest = string;
export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Why a string is not a usable digest, or undefined when it is one. */
export function digestProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'digest is not a string';
  const colon = value.indexOf(':');
  if (colon <= 0) return `malformed digest "${clip(value)}"`;
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  const length = HEX_LENGTH[algorithm];
  if (length === undefined) {
    return /^[a-z0-9]+([+._-][a-z0-9]+)*$/.test(algorithm)
      ? `unsupported digest algorithm "${clip(algorithm)}"`
      : `malformed digest "${clip(value)}"`;
  }
  if (!/^[0-9a-f]*$/.test(hex)) return `malformed digest "${clip(value)}" (hex must be lower case 0-9a-f)`;
  if (hex.length !== length) return `malformed digest "${clip(value)}" (${algorithm} needs ${length} hex characters)`;
  return undefined;
}

export function isDigest(value: unknown): boolean {
  return digestProblem(value) === undefined;
}

/** Parses a digest; a malformed one or another algorithm is an exit-1 error, never a path. */
export function parseDigest(value: unknown, subject?: string): ParsedDigest {
  const problem = digestProblem(value);
  if (problem) throw invalid('bad-digest', problem, subject);
  const [algorithm, hex] = (value as string).split(':');
  return { algorithm: algorithm as DigestAlgorithm, hex };
}

/** The member path of a blob inside an OCI layout: blobs/<alg>/<hex>. Safe by construction. */
export function blobPath(digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

export function sha256Of(data: Uint8Array | string): Digest {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:` + createHash(algorithm).update(data).digest('hex');
}

export function algorithmOf(digest: Digest): DigestAlgorithm {
  return parseDigest(digest).algorithm;
}

/** The 12-hex short form docker shows as IMAGE ID. */
export function shortId(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}

/** sha256 of the bytes ' '-joined, as moby computes chain IDs. */
export function chainIds(diffIds: Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    out.push(out.length === 0 ? diffId : sha256Of(`${out[out.length - 1]} ${diffId}`));
  }
  return out;
}

function clip(s: string): string {
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}
