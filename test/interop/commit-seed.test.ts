/**
 * The seed's example, without a daemon: base = imgpack/base:1 (busybox) from the real docker 20.10
 * archive; add /data/html/index.html; author and CMD as `docker commit -a ... -c ...`; tags
 * myhttpd_server:v0.1-1 and, by image ID prefix, mybusybox:latest. Then docker 20.10 and 26 load
 * it, show the author, Cmd and both names, and run it; podman, skopeo and umoci accept it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { accepts, REALTOOLS, realToolsAvailable } from '../helpers/realtools.js';
import { SHARED, sharedAvailable } from '../helpers/shared.js';

const available = sharedAvailable() && realToolsAvailable();
const work = join(tmpdir(), `imgpack-seed-${process.pid}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));
const docker = (flavour: string, args: string) => spawnSync('bash', ['-c', `source '${REALTOOLS}/lib.sh' && rt_docker ${flavour} ${args}`], { encoding: 'utf8', timeout: 120_000 });

describe.skipIf(!available)('make an image without docker (the seed example)', () => {
  beforeAll(() => {
    expect(spawnSync('bash', [resolve(REALTOOLS, 'start-dockerd.sh'), 'legacy', 'modern']).status).toBe(0);
  });

  it('commits, tags by ID prefix, loads, inspects and runs in docker 20.10 and 26', async () => {
    mkdirSync(join(work, 'html'), { recursive: true });
    writeFileSync(join(work, 'html', 'index.html'), '<h1>This is first page!</h1>\n');
    const out = join(work, 'myimages.tar');
    const c = await runCli('commit', resolve(SHARED, 'fixtures/realtools/docker-legacy/multi.tar'), '--image', 'imgpack/base:1', '-o', out,
      '-t', 'myhttpd_server:v0.1-1', '--add', `${join(work, 'html')}:/data/html`, '-a', 'MageEdu <mage@magedu.com>', '-c', 'CMD ["/bin/httpd","-f","-h","/data/html"]');
    expect(c.code, c.stderr).toBe(0);
    const id = (await runCli('inspect', out, '--json')).json().images[0].id.slice(7, 19);
    expect((await runCli('tag', out, id, 'mybusybox:latest')).code).toBe(0);
    const r = accepts(out);
    expect(r.code, r.output).toBe(0);
    for (const flavour of ['legacy', 'modern']) {
      expect(docker(flavour, `load -i '${out}'`).status).toBe(0);
      const inspect = docker(flavour, `image inspect --format '{{.Author}}|{{json .Config.Cmd}}|{{json .RepoTags}}' myhttpd_server:v0.1-1`);
      expect(inspect.stdout.trim()).toBe('MageEdu <mage@magedu.com>|["/bin/httpd","-f","-h","/data/html"]|["mybusybox:latest","myhttpd_server:v0.1-1"]');
      const run = docker(flavour, 'run --rm --network none myhttpd_server:v0.1-1 cat /data/html/index.html');
      expect(run.stdout, run.stderr).toBe('<h1>This is first page!</h1>\n');
      docker(flavour, 'rmi -f myhttpd_server:v0.1-1 mybusybox:latest');
    }
  });
});
