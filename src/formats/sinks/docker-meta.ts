import type { DockerEntry } from './sink.js';

/** The legacy `repositories` file: `{ "repo": { "tag": "<top layer id>" } }` for named images. */
export function repositoriesJson(entries: DockerEntry[]): Record<string, Record<string, string>> {
  const repos: Record<string, Record<string, string>> = {};
  for (const e of entries) {
    if (!e.topLayerId) continue;
    for (const tag of e.repoTags ?? []) {
      if (tag.includes('@')) continue;
      const colon = tag.lastIndexOf(':');
      (repos[tag.slice(0, colon)] ??= {})[tag.slice(colon + 1)] = e.topLayerId;
    }
  }
  return repos;
}
