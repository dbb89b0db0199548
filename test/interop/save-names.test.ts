/**
 * Issue 13 item 5 against the real thing: `imgpack save SELECTION` writes the same names as
 * `docker save SELECTION` of docker 20.10 and docker 26, for a NAME:TAG (only that name, not the
 * image's other tags), a repository without a tag (every tag of it) and an image ID (no name).
 * Names are made unique (retag) so that other users of the shared daemons are not disturbed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { REALTOOLS, realToolsAvailable } from '../helpers/realtools.js';
import { SHARED, sharedAvailable } from '../helpers/shared.js';

const available = sharedAvailable() && realToolsAvailable();
const work = join(tmpdir(), `imgpack-save-names-${process.pid}`);
const repo = `imgpack-names${process.pid}`;
const docker = (flavour: string, args: string) => spawnSync('bash', ['-c', `source '${REALTOOLS}/lib.sh' && rt_docker ${flavour} ${args}`], { encoding: 'utf8', timeout: 120_000 });
const p = (x: string) => join(work, x);
/** The RepoTags of every image of a docker-archive, sorted. */
const repoTags = (file: string) => (JSON.parse(execFileSync('tar', ['xOf', file, 'manifest.json'], { encoding: 'utf8' })) as { RepoTags: string[] | null }[]).flatMap((m) => m.RepoTags ?? []).sort();

describe.skipIf(!available)('save writes the names docker save writes', () => {
  let appId = '';
  beforeAll(async () => {
    mkdirSync(work, { recursive: true });
    expect(spawnSync('bash', [resolve(REALTOOLS, 'start-dockerd.sh')], { timeout: 300_000 }).status).toBe(0);
    const r = await runCli('retag', resolve(SHARED, 'fixtures/realtools/docker-legacy/multi.tar'), '--replace-prefix', `docker.io/imgpack/=docker.io/${repo}/`, '--format', 'docker-archive', '-o', p('multi.tar'));
    expect(r.code, r.stderr).toBe(0);
    expect((await runCli('--store', p('store'), 'load', '-i', p('multi.tar'))).code).toBe(0);
    appId = ((await runCli('inspect', p('multi.tar'), '--json')).json().images as { id: string; repoTags: string[] }[]).find((i) => i.repoTags.includes(`docker.io/${repo}/app:1`))!.id;
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  for (const flavour of ['legacy', 'modern']) {
    it(`docker ${flavour === 'legacy' ? '20.10' : '26'}: NAME:TAG, a repository, an ID`, async () => {
      expect(docker(flavour, `load -i '${p('multi.tar')}'`).status).toBe(0);
      try {
        for (const selection of [`${repo}/app:1`, `${repo}/app`, appId.slice(7, 19)]) {
          const fromDocker = p(`docker-${flavour}-${selection.replace(/\W/g, '_')}.tar`);
          const saved = docker(flavour, `save -o '${fromDocker}' ${selection}`);
          expect(saved.status, saved.stderr).toBe(0);
          const fromImgpack = p(`imgpack-${flavour}-${selection.replace(/\W/g, '_')}.tar`);
          const r = await runCli('--store', p('store'), 'save', selection, '--format', 'docker-archive', '-o', fromImgpack);
          expect(r.code, r.stderr).toBe(0);
          expect(repoTags(fromImgpack), selection).toEqual(repoTags(fromDocker));
        }
      } finally {
        spawnSync('bash', ['-c', `source '${REALTOOLS}/lib.sh' && rt_docker ${flavour} images --format '{{.Repository}}:{{.Tag}}' | grep '^${repo}/' | xargs -r -I{} bash -c "source '${REALTOOLS}/lib.sh' && rt_docker ${flavour} rmi -f {}"`], { timeout: 120_000 });
      }
    });
  }
});
