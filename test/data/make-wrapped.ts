/**
 * Makes test/data/tiny.tar.{xz,zst,bz2}: a tiny docker-archive from the test builder, wrapped with
 * the xz, zstd and bzip2 command-line tools (Node 20 cannot compress those). Committed, because a
 * fresh clone may not have the tools; run with `npx tsx test/data/make-wrapped.ts` to remake.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { buildImage, dockerArchiveEntries, tarBuffer } from '../../src/testing/build.js';

const img = await buildImage({ names: ['tiny:1'], layers: [{ files: { 'hello.txt': 'hello\n' } }] }, 'docker');
const tar = await tarBuffer(dockerArchiveEntries([img]));
const here = new URL('.', import.meta.url).pathname;
writeFileSync(`${here}tiny.tar.xz`, execFileSync('xz', ['-c', '-9'], { input: tar }));
writeFileSync(`${here}tiny.tar.zst`, execFileSync('zstd', ['-c', '-q', '-19'], { input: tar }));
writeFileSync(`${here}tiny.tar.bz2`, execFileSync('bzip2', ['-c', '-9'], { input: tar }));
console.log(img.config.digest);
