/**
 * Image references, parsed and normalised as docker does (distribution/reference):
 * `busybox` -> `docker.io/library/busybox:latest`, `user/repo` -> `docker.io/user/repo:latest`,
 * `registry.local:5000/x` keeps its registry. The first path component is a registry when it
 * contains '.' or ':' or is `localhost`.
 */
import { usage } from '../errors.js';
import { digestProblem } from './digest.js';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const NAME_MAX = 255;

export interface Reference {
  /** Registry host[:port], e.g. `docker.io`, `registry.local:5000`. */
  domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
}

export class ReferenceError extends Error {}

/** Parses and normalises; throws ReferenceError with a reason when the string is not a reference. */
export function parseReference(input: string, { defaultTag = true } = {}): Reference {
  if (input.length === 0) throw new ReferenceError('empty reference');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const problem = digestProblem(digest);
    if (problem) throw new ReferenceError(problem);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG_RE.test(tag)) throw new ReferenceError(`invalid tag "${tag}"`);
  }
  if (rest.length === 0) throw new ReferenceError('missing repository name');
  let domain: string;
  let path: string;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    domain = first;
    path = rest.slice(slash + 1);
    if (!DOMAIN_RE.test(domain)) throw new ReferenceError(`invalid registry "${domain}"`);
  } else {
    domain = DEFAULT_DOMAIN;
    path = rest;
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  if (path !== path.toLowerCase()) throw new ReferenceError('repository name must be lowercase');
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT_RE.test(component)) throw new ReferenceError(`invalid repository name "${path}"`);
  }
  if (domain.length + 1 + path.length > NAME_MAX) throw new ReferenceError('repository name is longer than 255 characters');
  if (tag === undefined && digest === undefined && defaultTag) tag = 'latest';
  return { domain, path, tag, digest };
}

/** Like parseReference, but a bad reference is a usage error (exit 2) naming the input. */
export function parseReferenceOrThrow(input: string): Reference {
  try {
    return parseReference(input);
  } catch (e) {
    throw usage('bad-reference', `invalid reference: ${(e as Error).message}`, input);
  }
}

export function tryParseReference(input: string): Reference | undefined {
  try {
    return parseReference(input);
  } catch {
    return undefined;
  }
}

/** `docker.io/library/busybox:latest` */
export function formatFull(ref: Reference): string {
  return `${ref.domain}/${ref.path}${ref.tag !== undefined ? ':' + ref.tag : ''}${ref.digest ? '@' + ref.digest : ''}`;
}

/** `docker.io/library/busybox` */
export function repositoryOf(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** docker's familiar form: `busybox:latest`, `user/repo:1`, `quay.io/x/y:2`. */
export function formatFamiliar(ref: Reference): string {
  let name = repositoryOf(ref);
  if (ref.domain === DEFAULT_DOMAIN) {
    name = ref.path.startsWith(OFFICIAL_REPO_PREFIX) && ref.path.split('/').length === 2
      ? ref.path.slice(OFFICIAL_REPO_PREFIX.length)
      : ref.path;
  }
  return `${name}${ref.tag !== undefined ? ':' + ref.tag : ''}${ref.digest ? '@' + ref.digest : ''}`;
}

/** Normalises a reference string to its full form, or undefined when it is not one. */
export function normalizeName(input: string): string | undefined {
  const ref = tryParseReference(input);
  return ref ? formatFull(ref) : undefined;
}

export function familiarName(full: string): string {
  const ref = tryParseReference(full);
  return ref ? formatFamiliar(ref) : full;
}

/**
 * An `org.opencontainers.image.ref.name` is either a whole reference (`docker.io/x/y:1`,
 * `sample:latest`) or a bare tag (`latest`, `1`, `app`). Only the former names an image:
 * a bare one has no repository. We call it whole when it has a ':' or '/' and parses.
 */
export function refNameAsReference(refName: string): string | undefined {
  if (!refName.includes(':') && !refName.includes('/')) return undefined;
  const ref = tryParseReference(refName);
  return ref && ref.tag !== undefined && !ref.digest ? formatFull(ref) : undefined;
}
