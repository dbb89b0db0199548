/**
 * The seed archives of the mutation corpus: small (a few kB each), deterministic (fixed content,
 * mtimes and gzip headers), one per layout real tools write. `npx tsx
 * test/hostile/corpus/make-corpus.ts` rewrites them; test/hostile/properties.test.ts checks the
 * committed files are what this script makes, then mutates them.
 */
import { writeFileSync } from 'node:fs';
import { buildImage, dockerArchiveEntries, ociEntries, tarBuffer } from '../../../src/testing/build.js';

export async function seeds(): Promise<Record<string, Buffer>> {
  const a = await buildImage({ names: ['seed/a:1'], layers: [{ files: { 'etc/os-release': 'ID=seed\n', 'bin/sh': '#!fake' } }, { files: { 'app/main': 'hello' } }] }, 'docker');
  const b = await buildImage({ names: ['seed/b:2'], layers: [{ files: { 'b.txt': 'b'.repeat(700) }, compression: 'gzip' }] });
  return {
    'docker-archive.tar': await tarBuffer(dockerArchiveEntries([a])),
    'hybrid.tar': await tarBuffer(ociEntries([a, b], { hybrid: true })),
    'oci-archive.tar': await tarBuffer(ociEntries([b])),
  };
}

if (process.argv[1]?.endsWith('make-corpus.ts')) {
  for (const [name, data] of Object.entries(await seeds())) writeFileSync(new URL(name, import.meta.url), data);
}
