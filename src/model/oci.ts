/**
 * Plain data types of descriptors, manifests, indexes and image configs, and their shape checks.
 * Parsers keep the raw bytes next to the parsed JSON: a digest is over bytes, never re-serialise.
 */
import { digestProblem, type Digest } from './digest.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
  artifactType?: string;
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  'os.version'?: string;
  created?: string;
  author?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: Digest[] };
  history?: HistoryEntry[];
  [key: string]: unknown;
}

export const Annotation = {
  refName: 'org.opencontainers.image.ref.name',
  containerdName: 'io.containerd.image.name',
  created: 'org.opencontainers.image.created',
} as const;

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Shape problems of a descriptor (empty when sound). `where` names it in messages. */
export function descriptorProblems(v: unknown, where: string): string[] {
  if (!isObject(v)) return [`${where}: descriptor is not an object`];
  const out: string[] = [];
  if (typeof v.mediaType !== 'string' || v.mediaType === '') out.push(`${where}: descriptor has no mediaType`);
  const dp = digestProblem(v.digest);
  if (dp) out.push(`${where}: ${dp}`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) out.push(`${where}: descriptor size is not a non-negative integer`);
  if (v.annotations !== undefined && !isStringMap(v.annotations)) out.push(`${where}: annotations must map strings to strings`);
  if (v.platform !== undefined && !platformOk(v.platform)) out.push(`${where}: platform needs os and architecture strings`);
  return out;
}

export function isStringMap(v: unknown): v is Record<string, string> {
  return isObject(v) && Object.values(v).every((x) => typeof x === 'string');
}

function platformOk(v: unknown): boolean {
  return isObject(v) && typeof v.os === 'string' && typeof v.architecture === 'string';
}

/** Detects what a JSON document is by its content: media types lie, shapes do not. */
export function classifyJson(json: unknown): 'index' | 'manifest' | 'unknown' {
  if (!isObject(json)) return 'unknown';
  if (Array.isArray(json.manifests)) return 'index';
  if (isObject(json.config) && (Array.isArray(json.layers) || json.layers === undefined)) return 'manifest';
  return 'unknown';
}

export function manifestProblems(v: unknown, where: string): string[] {
  if (!isObject(v)) return [`${where}: manifest is not a JSON object`];
  const out: string[] = [];
  if (v.schemaVersion !== 2) out.push(`${where}: schemaVersion must be 2`);
  out.push(...descriptorProblems(v.config, `${where} config`));
  if (!Array.isArray(v.layers)) out.push(`${where}: layers must be an array`);
  else v.layers.forEach((l, i) => out.push(...descriptorProblems(l, `${where} layer ${i}`)));
  if (v.subject !== undefined) out.push(...descriptorProblems(v.subject, `${where} subject`));
  return out;
}

export function indexProblems(v: unknown, where: string): string[] {
  if (!isObject(v)) return [`${where}: index is not a JSON object`];
  const out: string[] = [];
  if (v.schemaVersion !== 2) out.push(`${where}: schemaVersion must be 2`);
  if (!Array.isArray(v.manifests)) out.push(`${where}: manifests must be an array`);
  else v.manifests.forEach((d, i) => out.push(...descriptorProblems(d, `${where} manifests[${i}]`)));
  return out;
}

/** An image config has a rootfs of type layers with a diff_ids array of digests. */
export function imageConfigProblems(v: unknown, where: string): string[] {
  if (!isObject(v)) return [`${where}: config is not a JSON object`];
  const rootfs = v.rootfs;
  if (!isObject(rootfs)) return [`${where}: config has no rootfs`];
  const out: string[] = [];
  if (!Array.isArray(rootfs.diff_ids)) out.push(`${where}: rootfs.diff_ids must be an array`);
  else rootfs.diff_ids.forEach((d, i) => {
    const p = digestProblem(d);
    if (p) out.push(`${where}: rootfs.diff_ids[${i}]: ${p}`);
  });
  if (rootfs.type !== 'layers') out.push(`${where}: rootfs.type must be "layers"`);
  return out;
}

export function isImageConfigJson(v: unknown): v is ImageConfig {
  return isObject(v) && isObject(v.rootfs);
}

export function platformOfConfig(c: ImageConfig): Platform | undefined {
  if (typeof c.os !== 'string' || typeof c.architecture !== 'string') return undefined;
  const p: Platform = { os: c.os, architecture: c.architecture };
  if (typeof c.variant === 'string' && c.variant) p.variant = c.variant;
  return p;
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** `os/arch[/variant]` as flags and set files write a platform. */
export function isPlatformSpec(s: unknown): s is string {
  return typeof s === 'string' && /^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/.test(s);
}

export function parsePlatform(s: string): Platform {
  const [os, architecture, variant] = s.split('/');
  const p: Platform = { os, architecture };
  if (variant) p.variant = variant;
  return p;
}

/** Attestation manifests and the like carry platform unknown/unknown. */
export function isUnknownPlatform(p: Platform | undefined): boolean {
  return !!p && p.os === 'unknown' && p.architecture === 'unknown';
}

/** The platform docker pull picks on this host: linux, with Go's names for Node's architectures. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}
