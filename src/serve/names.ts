/**
 * Repository names of the served API and the full references of the store.
 *
 * A request's repository path reads as a docker reference without a tag: `nginx` and
 * `library/nginx` are docker.io/library/nginx; a first component with a dot or a colon, or
 * `localhost`, is a registry (`quay.io/coreos/flannel`). containerd's mirror requests carry the
 * upstream registry in `?ns=` (`/v2/coreos/flannel/...?ns=quay.io`): it is prefixed.
 * The catalog lists repositories in the same form: docker's familiar path for docker.io
 * (`nginx`, `team/app`), `domain/path` for others.
 */
import { DEFAULT_DOMAIN, formatFamiliar, parseReference } from '../model/reference.js';
import { nameInvalid } from './errors.js';

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** The store repository (`docker.io/library/nginx`) a request's name and `ns` stand for. */
export function repositoryOf(name: string, ns?: string | null): string {
  let input = name;
  if (ns) {
    const domain = DOCKER_HUB_ALIASES.has(ns.toLowerCase()) ? DEFAULT_DOMAIN : ns;
    input = `${domain}/${name}`;
  }
  let ref;
  try {
    ref = parseReference(input, { defaultTag: false });
  } catch (e) {
    throw nameInvalid(name, (e as Error).message);
  }
  if (ref.tag !== undefined || ref.digest !== undefined) throw nameInvalid(name, 'a repository name has no tag or digest');
  return `${ref.domain}/${ref.path}`;
}

/** How the catalog shows a store repository: `nginx`, `team/app`, `quay.io/coreos/flannel`. */
export function catalogName(repository: string): string {
  const slash = repository.indexOf('/');
  return formatFamiliar({ domain: repository.slice(0, slash), path: repository.slice(slash + 1) });
}
