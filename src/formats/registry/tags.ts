/** A repository's tag list, page by page, within the JSON and count limits. */
import { invalid } from '../../errors.js';
import { repositoryOf } from '../../model/reference.js';
import { maxJsonBytes } from '../read-json.js';
import type { RegistryClient } from './client.js';
import { readCapped } from './read-capped.js';

const MAX_TAGS = 100_000;

/** Every tag of the client's repository, following the registry's `Link: <...>; rel="next"` pages. */
export async function listTagsOf(client: RegistryClient, pageSize = 1000): Promise<string[]> {
  const ref = client.ref;
  const tags: string[] = [];
  let next: string | undefined = `tags/list?n=${pageSize}`;
  let absolute = false;
  while (next) {
    const res = await client.request('GET', next, { absolute, accept: 'application/json' });
    const raw = await readCapped(res, maxJsonBytes(), repositoryOf(ref));
    let page: { tags?: unknown };
    try {
      page = JSON.parse(raw.toString('utf8'));
    } catch {
      throw invalid('bad-tag-list', 'the registry sent a tag list that is not JSON', repositoryOf(ref));
    }
    if (page?.tags !== null && page?.tags !== undefined && !(Array.isArray(page.tags) && page.tags.every((t) => typeof t === 'string'))) {
      throw invalid('bad-tag-list', 'the registry sent a tag list whose "tags" is not a list of strings', repositoryOf(ref));
    }
    tags.push(...((page.tags as string[] | null | undefined) ?? []));
    if (tags.length > MAX_TAGS) throw invalid('limit-tags', `the repository lists more than ${MAX_TAGS} tags: refused`, repositoryOf(ref));
    const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.header('link') ?? '');
    next = link ? client.resolveLocation(link[1]) : undefined;
    absolute = true;
  }
  return [...new Set(tags)];
}
