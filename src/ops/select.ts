/**
 * `--image REF` selection (CLI.md): a reference (normalised as docker does), an image ID prefix
 * (as in `docker tag 3b9aa7ded38d ...`), or a digest (config or manifest). Names are tried first,
 * as docker does; an ambiguous prefix lists its candidates.
 */
import { invalid } from '../errors.js';
import type { Catalog, ImageRecord } from '../model/catalog.js';
import { isDigest, shortId } from '../model/digest.js';
import { formatPlatform, hostPlatform, isUnknownPlatform, type Platform } from '../model/oci.js';
import { familiarName, normalizeName } from '../model/reference.js';

export function matchImages(catalog: Catalog, ref: string): ImageRecord[] {
  const images = catalog.images;
  if (isDigest(ref)) {
    return images.filter((i) => i.id === ref || i.manifests.some((m) => m.digest === ref));
  }
  // A repository without a tag is every tag of it, as docker save takes it (not only :latest).
  const repository = repositoryAsked(ref);
  if (repository) {
    const byRepository = images.filter((i) => i.repoTags.some((t) => repositoryOfName(t) === repository));
    if (byRepository.length) return byRepository;
  }
  const full = normalizeName(ref);
  if (full) {
    const byName = images.filter((i) => i.repoTags.includes(full));
    if (byName.length) return byName;
  }
  const byRefName = images.filter((i) => i.refNames.includes(ref));
  if (byRefName.length) return byRefName;
  const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
  if (/^[0-9a-f]{1,64}$/.test(hex)) {
    const byId = images.filter((i) => i.id.startsWith('sha256:' + hex));
    const ids = new Set(byId.map((i) => i.id));
    if (ids.size > 1) {
      throw invalid('ambiguous-image', `image ID prefix ${hex} is ambiguous: ${[...ids].map((id) => shortId(id)).join(', ')}`, ref);
    }
    return byId;
  }
  return [];
}

/** The images chosen by every `--image` (all images when none is given), in catalog order. */
export function selectImages(catalog: Catalog, refs: string[] | undefined, display: string): ImageRecord[] {
  if (!refs || refs.length === 0) return catalog.images;
  const chosen = new Set<ImageRecord>();
  for (const ref of refs) {
    const found = matchImages(catalog, ref);
    if (found.length === 0) {
      throw invalid('no-such-image', `no image in ${display} matches ${ref}`, ref);
    }
    for (const i of found) chosen.add(i);
  }
  return catalog.images.filter((i) => chosen.has(i));
}

/** How a human reads an image: its familiar names, or its short ID with its platform. */
export function describeImage(i: ImageRecord): string {
  return i.repoTags.length ? i.repoTags.map(familiarName).join(', ') : `${shortId(i.id)} (${formatPlatform(i.platform)})`;
}

/** `app` or `quay.io/team/app` with no tag and no digest: a whole repository, as docker save takes it. */
function repositoryAsked(ref: string): string | undefined {
  if (ref.includes('@')) return undefined;
  const full = normalizeName(ref);
  if (!full) return undefined;
  const lastSlash = ref.lastIndexOf('/');
  if (ref.lastIndexOf(':') > lastSlash) return undefined; // a tag was given
  return repositoryOfName(full);
}

function repositoryOfName(name: string): string {
  const at = name.indexOf('@');
  const bare = at >= 0 ? name.slice(0, at) : name;
  const colon = bare.lastIndexOf(':');
  return colon > bare.lastIndexOf('/') ? bare.slice(0, colon) : bare;
}

/**
 * Which of an image's names a selection carries (issue 13 item 5, as docker save): `app:1` only
 * that name (not `app:latest` beside it), `app` every tag of the repository, an ID or a digest
 * no name at all.
 */
export function namesAsked(name: string, refs: string[]): boolean {
  return refs.some((ref) => {
    const repository = repositoryAsked(ref);
    if (repository) return repositoryOfName(name) === repository;
    const full = normalizeName(ref);
    return full !== undefined && full === name;
  });
}

/**
 * The one image a command works on (export, diff, commit's base): the one --image names, and of
 * a multi-platform image the one for `platform`, by default this host's, as docker does. When
 * that leaves several or none, the error lists each with its platform and ID.
 */
export function oneImage(catalog: Catalog, opts: { images?: string[]; platform?: Platform; flag?: string }, display: string): ImageRecord {
  const images = selectImages(catalog, opts.images, display).filter((i) => !isUnknownPlatform(i.platform));
  if (images.length === 1) return images[0];
  const want = opts.platform ?? hostPlatform();
  const forPlatform = images.filter((i) => i.platform && i.platform.os === want.os && i.platform.architecture === want.architecture && (!want.variant || i.platform.variant === want.variant));
  if (forPlatform.length === 1) return forPlatform[0];
  const list = images.map((i) => `${describeImage(i)} ${formatPlatform(i.platform)} ${shortId(i.id)}`).join('; ');
  const how = forPlatform.length ? `choose one with ${opts.flag ?? '--image'}` : `none is for ${formatPlatform(want)}: choose one with --platform or ${opts.flag ?? '--image'}`;
  throw invalid('ambiguous-image', `${display} holds ${images.length} images (${list}); ${how}`, display);
}
