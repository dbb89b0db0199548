import type { TreeWriter } from '../../io/output.js';
import type { DockerEntry } from './sink.js';
import { DELTA_MARKER, type DeltaMarker } from '../../model/delta.js';

/** A delta's marker, before the metadata, so that readers know what is absent on purpose. */
export async function writeDeltaMarker(out: TreeWriter, delta: DeltaMarker | undefined): Promise<void> {
  if (delta) await out.addFile(DELTA_MARKER, Buffer.from(JSON.stringify(delta, null, 1) + '\n'));
}

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

/** docker's manifest.json and the legacy repositories file, written last as docker does. */
export async function writeDockerMetadata(out: TreeWriter, entries: DockerEntry[]): Promise<void> {
  const manifest = entries.map((e) => ({ Config: e.config, RepoTags: e.repoTags, Layers: e.layers }));
  await out.addFile('manifest.json', Buffer.from(JSON.stringify(manifest)));
  await out.addFile('repositories', Buffer.from(JSON.stringify(repositoriesJson(entries))));
}
