/**
 * Delta bundles with the real tools.
 * - docker load of a delta (the base layer's member left out, manifest.json still listing it) into
 *   an engine that holds the base: docker 20.10 and docker 26 (graph driver) skip the layer by
 *   chain ID and load the image (same image ID); docker 26 with the containerd store refuses a
 *   docker-archive delta ("failed to resolve layers"), which is why --delta-docker is documented
 *   for the classic engines only.
 * - push of a delta to the distribution registry that holds the base (mounted from its repository),
 *   and a pull gives the very manifest digest of the full image.
 * Names are made unique (retag) so that other users of the shared daemons and registry are not
 * disturbed; the base layer itself may be in the engines already, so the "engine without the base
 * refuses" case is the README's measurement, not asserted here.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { REALTOOLS, realToolsAvailable } from '../helpers/realtools.js';
import { SHARED, sharedAvailable } from '../helpers/shared.js';

const available = sharedAvailable() && realToolsAvailable();
const work = join(tmpdir(), `imgpack-delta-interop-${process.pid}`);
const tag = `wt${process.pid}`;
afterAll(() => rmSync(work, { recursive: true, force: true }));
const docker = (flavour: string, args: string) => spawnSync('bash', ['-c', `source '${REALTOOLS}/lib.sh' && rt_docker ${flavour} ${args}`], { encoding: 'utf8', timeout: 120_000 });
const p = (x: string) => join(work, x);
const APP_ID = 'sha256:348deefea9a456fb33953caa6882b44baab9d496c6ffade030baff7a63659560';
const APP_MANIFEST = 'sha256:e5eb41380e0570e8e0ba9cda2085075e6a073003b8c352ca4f387828327544d3';

describe.skipIf(!available)('delta bundles with real docker engines and a real registry', () => {
  beforeAll(async () => {
    mkdirSync(work, { recursive: true });
    expect(spawnSync('bash', [resolve(REALTOOLS, 'start-dockerd.sh')], { timeout: 300_000 }).status).toBe(0);
    // base:1 and app:1 under names of our own
    const r = await runCli('retag', resolve(SHARED, 'fixtures/realtools/docker-legacy/multi.tar'), '--replace-prefix', `docker.io/imgpack/=docker.io/imgpack-${tag}/`, '-o', p('multi.tar'));
    expect(r.code, r.stderr).toBe(0);
    expect((await runCli('convert', p('multi.tar'), '--image', `imgpack-${tag}/base:1`, '--format', 'docker-archive', '-o', p('base.tar'))).code).toBe(0);
  });

  for (const flavour of ['legacy', 'modern', 'containerd']) {
    it(`docker ${flavour}: a --delta-docker archive loads where the engine holds the base${flavour === 'containerd' ? ' (refused by the containerd store)' : ''}`, async () => {
      expect(docker(flavour, `load -i '${p('base.tar')}'`).status).toBe(0);
      // The engine's inventory, as the README says: docker save of its images, read by imgpack.
      const saved = p(`engine-${flavour}.tar`);
      expect(docker(flavour, `save -o '${saved}' imgpack-${tag}/base:1`).status).toBe(0);
      expect((await runCli('inventory', saved, '-o', p(`have-${flavour}.json`))).code).toBe(0);
      for (const format of ['docker-archive', 'hybrid']) {
        const delta = p(`delta-${flavour}-${format}.tar`);
        const c = await runCli('convert', p('multi.tar'), '--image', `imgpack-${tag}/app:1`, '--format', format, '--exclude-from', p(`have-${flavour}.json`), '--delta-docker', '-o', delta, '--json');
        expect(c.code, c.stderr).toBe(0);
        expect(c.json().blobsOmitted).toBe(1);
        const load = docker(flavour, `load -i '${delta}'`);
        if (flavour === 'containerd' && format === 'docker-archive') {
          expect(load.status, load.stdout + load.stderr).not.toBe(0);
          expect(load.stderr).toMatch(/failed to resolve layers|not found/);
          continue;
        }
        expect(load.status, load.stdout + load.stderr).toBe(0);
        const id = docker(flavour, `image inspect --format '{{.Id}}' imgpack-${tag}/app:1`).stdout.trim();
        // The containerd store shows the manifest digest as the image ID; the classic store the config's.
        expect(id).toBe(flavour === 'containerd' ? APP_MANIFEST : APP_ID);
        docker(flavour, `rmi imgpack-${tag}/app:1 imgpack-${tag}/app:latest`);
      }
      docker(flavour, `rmi imgpack-${tag}/base:1`);
    });
  }

  it('push of a delta: refused while the registry lacks the base, then mounted from its repository; pull gives the same digest', async () => {
    const REG = '127.0.0.1:5000';
    expect(spawnSync('bash', [resolve(REALTOOLS, 'start-registry.sh')], { timeout: 120_000 }).status).toBe(0);
    const hybridBase = p('base-hybrid.tar');
    expect((await runCli('convert', p('multi.tar'), '--image', `imgpack-${tag}/base:1`, '-o', hybridBase)).code).toBe(0);
    expect((await runCli('inventory', hybridBase, '-o', p('have-reg.json'))).code).toBe(0);
    const full = p('app-full.tar');
    const delta = p('app-delta.tar');
    expect((await runCli('convert', p('multi.tar'), '--image', `imgpack-${tag}/app:1`, '-o', full)).code).toBe(0);
    expect((await runCli('convert', p('multi.tar'), '--image', `imgpack-${tag}/app:1`, '--exclude-from', p('have-reg.json'), '-o', delta)).code).toBe(0);

    const early = await runCli('push', delta, '--to', `${REG}/${tag}`);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('the registry lacks 1 blob it left out');
    expect((await runCli('push', hybridBase, '--to', `${REG}/${tag}`)).code).toBe(0);
    const pushed = await runCli('push', delta, '--to', `${REG}/${tag}`, '--mount-from', `${tag}/imgpack-${tag}/base`, '--json');
    expect(pushed.code, pushed.stderr).toBe(0);
    // The registry's own inventory now lists the app's blobs too.
    const reg = await runCli('inventory', `docker://${REG}/${tag}/imgpack-${tag}/app:1`);
    expect(JSON.parse(reg.stdout).images.map((i: { id: string }) => i.id)).toEqual([APP_ID]);
    const pulled = p('pulled.tar');
    expect((await runCli('pull', `${REG}/${tag}/imgpack-${tag}/app:1`, '-o', pulled)).code).toBe(0);
    const a = (await runCli('inspect', pulled, '--json')).json().images[0];
    const b = (await runCli('inspect', full, '--json')).json().images[0];
    expect([a.id, a.manifestDigests]).toEqual([b.id, b.manifestDigests]);
  });
});
