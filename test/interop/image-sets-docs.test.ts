/**
 * The examples of docs/image-sets.md's "Image sets" section are real: a distribution registry is
 * started, the same (deterministic) images are pushed into it, the page's files (```yaml blocks
 * whose first line is `# file: NAME`) are written, and every `$ ...` line of its console blocks
 * is run in order; its stdout then stderr must be what the page shows. The page says
 * `localhost:5000` for the registry; runs of spaces (table columns) compare as one, and so do the
 * sha256 of locks (they hash the registry's address, which is a free port here).
 * IMGPACK_DOCS_PRINT=1 prints what the commands print, to write the page from.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../src/testing/build.js';
import { pushImage, pushIndex } from '../../src/testing/seed-registry.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { cliArgv } from '../helpers/spawn.js';

const available = spawnSync('sh', ['-c', 'command -v docker-registry'], { stdio: 'ignore' }).status === 0;
const root = new URL('../../', import.meta.url).pathname;
const page = readFileSync(`${root}docs/image-sets.md`, 'utf8');
const start = page.indexOf('\n## Image sets');
const rest = page.slice(start + 1);
const section = rest.slice(0, rest.indexOf('\n## ', 5) > 0 ? rest.indexOf('\n## ', 5) : undefined);
const work = join(tmpdir(), `imgpack-sets-docs-${process.pid}`);
const SHOWN = 'localhost:5000';
let reg: Distribution;

/** The images the page's examples pull: small, deterministic, sharing a base layer. */
async function seedDocsRegistry(host: string): Promise<void> {
  const base = { files: { 'etc/os-release': 'NAME=base\n'.repeat(400) }, compression: 'gzip' as const };
  for (const tag of ['1.24.0', '1.25.0', '1.25.3', '1.26.0', '1.26.1', '1.27.0-rc1', 'latest']) {
    const amd = await buildImage({ layers: [base, { files: { 'srv/web': `web ${tag}` }, compression: 'gzip' }] });
    const arm = await buildImage({ layers: [base, { files: { 'srv/web': `web ${tag} arm64` }, compression: 'gzip' }], architecture: 'arm64' });
    await pushIndex(host, 'shop/web', tag, [amd, arm]);
  }
  await pushImage(host, 'shop/worker', '2.1', await buildImage({ layers: [base, { files: { 'srv/worker': 'worker 2.1' }, compression: 'gzip' }] }));
  await pushImage(host, 'library/redis', '7.2', await buildImage({ layers: [base, { files: { 'usr/bin/redis': 'redis 7.2' }, compression: 'gzip' }] }));
}

beforeAll(async () => {
  if (!available) return;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  reg = await startDistribution(join(work, 'registry'));
  await seedDocsRegistry(reg.host);
  for (const block of section.matchAll(/```yaml\n# file: (\S+)\n([\s\S]*?)```/g)) {
    const path = join(work, 'docs', block[1]);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, block[2].replaceAll(SHOWN, reg.host));
  }
}, 120_000);
afterAll(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Example { command: string; output: string }
const examples: Example[] = [];
for (const block of section.matchAll(/```console\n([\s\S]*?)```/g)) {
  let current: Example | undefined;
  for (const line of block[1].split('\n')) {
    if (line.startsWith('$ ')) {
      current = { command: line.slice(2), output: '' };
      examples.push(current);
    } else if (current && line !== '') current.output += `${line}\n`;
  }
}
/** Table columns compare as one space; a lock's sha256 (it hashes the registry's address, a free port) as any. */
const squeeze = (s: string) => s.replace(/ {2,}/g, '  ').replace(/^((?:Lock |warning: the transfer manifest).*)$/gm, (line) => line.replace(/sha256:[0-9a-f]{64}/g, 'sha256:<lock>'));

describe.skipIf(!available)('docs/image-sets.md: image sets', () => {
  it('has examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(6);
  });

  it('every example prints what the page shows, run in order', () => {
    const env = { PATH: process.env.PATH ?? '', HOME: join(work, 'home'), IMGPACK_STORE: join(work, 'store'), IMGPACK_CACHE: join(work, 'cache') };
    for (const e of examples) {
      const words = e.command.replaceAll(SHOWN, reg.host).split(' ');
      const argv = words[0] === 'imgpack' ? [process.execPath, ...cliArgv(...words.slice(1))] : words;
      const r = spawnSync(argv[0], argv.slice(1), { cwd: join(work, 'docs'), env, encoding: 'utf8', timeout: 120_000 });
      const output = `${r.stdout}${r.stderr}`.replaceAll(reg.host, SHOWN).replaceAll(join(work, 'docs') + '/', '');
      if (process.env.IMGPACK_DOCS_PRINT) console.log(`$ ${e.command}\n${output}`);
      else expect(squeeze(output), e.command).toBe(squeeze(e.output));
    }
  });
});
