/**
 * export matches `umoci unpack` (a real tool) on every image of the realtools umoci layout,
 * which has whiteouts, a repacked layer and layers without end-of-archive blocks.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { realToolsAvailable } from '../helpers/realtools.js';
import { SHARED, sharedAvailable } from '../helpers/shared.js';

const available = sharedAvailable() && realToolsAvailable();
const work = join(tmpdir(), `imgpack-export-${process.pid}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!available)('export equals umoci unpack', () => {
  for (const tag of ['base', 'two', 'three', 'four', 'five', 'six']) {
    it(`umoci/layout:${tag}`, async () => {
      const layout = join(work, 'layout');
      mkdirSync(work, { recursive: true });
      cpSync(resolve(SHARED, 'fixtures/realtools/umoci/layout'), layout, { recursive: true, force: false, errorOnExist: false });
      const bundle = join(work, `umoci-${tag}`);
      const u = spawnSync('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, bundle], { encoding: 'utf8' });
      expect(u.status, u.stderr).toBe(0);
      const tar = join(work, `${tag}.tar`);
      const r = await runCli('export', layout, '--image', tag, '-o', tar);
      expect(r.code, r.stderr).toBe(0);
      const ours = join(work, `ours-${tag}`);
      mkdirSync(ours);
      expect(spawnSync('tar', ['-xf', tar, '-C', ours]).status).toBe(0);
      const d = spawnSync('diff', ['-r', '--no-dereference', join(bundle, 'rootfs'), ours], { encoding: 'utf8' });
      expect(d.stdout + d.stderr).toBe('');
      // -o DIR/ (tar-fs): the same tree, and the same types and modes as umoci wrote
      const unpacked = join(work, `dir-${tag}`);
      const x = await runCli('export', layout, '--image', tag, '-o', `${unpacked}/`);
      expect(x.code, x.stderr).toBe(0);
      const dd = spawnSync('diff', ['-r', '--no-dereference', join(bundle, 'rootfs'), unpacked], { encoding: 'utf8' });
      expect(dd.stdout + dd.stderr).toBe('');
      const modes = (p: string) => spawnSync('find', [p, '-mindepth', '1', '-printf', '%P %y %m\n'], { encoding: 'utf8' }).stdout.split('\n').sort();
      expect(modes(unpacked)).toEqual(modes(join(bundle, 'rootfs')));
    });
  }
});

/** What `docker create` adds to every container (or fills, for /dev), and is not image content. */
const DOCKER_RUNTIME = ['.dockerenv', 'dev', 'proc', 'sys', 'etc/hostname', 'etc/hosts', 'etc/mtab', 'etc/resolv.conf'];

describe.skipIf(!available)('export equals docker create + docker export', () => {
  for (const file of ['corpus/snyk/skopeo-copy/nodes-fake-multi.tar', 'corpus/dive/test-docker-image.tar']) {
    it(`${file} (whiteouts${file.includes('nodes') ? ', an opaque directory' : ''})`, async () => {
      const input = resolve(SHARED, file);
      const dir = join(work, file.replace(/\W+/g, '_'));
      mkdirSync(join(dir, 'docker'), { recursive: true });
      mkdirSync(join(dir, 'ours'));
      const id = (await runCli('inspect', input, '--json')).json().images[0].id;
      const sh = (cmd: string) => spawnSync('bash', ['-c', `source '${resolve(SHARED, 'tools/realtools/lib.sh')}' && ${cmd}`], { encoding: 'utf8', timeout: 120_000 });
      expect(sh(`bash '${resolve(SHARED, 'tools/realtools/start-dockerd.sh')}' modern`).status).toBe(0);
      expect(sh(`rt_docker modern load -i '${input}'`).status).toBe(0);
      const created = sh(`rt_docker modern create ${id} /bin/true`);
      const container = created.stdout.trim().split('\n').pop()!;
      expect(sh(`rt_docker modern export ${container} > '${join(dir, 'docker.tar')}' && rt_docker modern rm ${container}`).status).toBe(0);
      expect((await runCli('export', input, '-o', join(dir, 'ours.tar'))).code).toBe(0);
      spawnSync('tar', ['-xf', join(dir, 'docker.tar'), '-C', join(dir, 'docker')]);
      spawnSync('tar', ['-xf', join(dir, 'ours.tar'), '-C', join(dir, 'ours')]);
      // Runtime files docker adds (and /dev, which docker fills with devices) are left out on both sides.
      for (const p of DOCKER_RUNTIME) for (const side of ['docker', 'ours']) rmSync(join(dir, side, p), { recursive: true, force: true });
      const d = spawnSync('diff', ['-r', '--no-dereference', join(dir, 'docker'), join(dir, 'ours')], { encoding: 'utf8' });
      expect(d.stdout + d.stderr).toBe('');
    });
  }
});
