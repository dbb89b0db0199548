/**
 * `imgpack convert in.tar -o - | docker load`, for real, into docker 20.10 and docker 26, and the
 * loaded image's name checked with `docker image inspect`.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REALTOOLS, realToolsAvailable } from '../helpers/realtools.js';
import { SHARED, sharedAvailable } from '../helpers/shared.js';

const available = sharedAvailable() && realToolsAvailable();
const bin = resolve(new URL('../..', import.meta.url).pathname, 'bin/imgpack.cjs');
const docker = (flavour: string, args: string) => `source '${REALTOOLS}/lib.sh' && rt_docker ${flavour} ${args}`;

describe.skipIf(!available)('imgpack convert -o - | docker load', () => {
  beforeAll(() => {
    const r = spawnSync('bash', [resolve(REALTOOLS, 'start-dockerd.sh'), 'legacy', 'modern'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  for (const flavour of ['legacy', 'modern']) {
    it(`loads into docker ${flavour === 'legacy' ? '20.10' : '26'} from a pipe`, () => {
      const input = resolve(SHARED, 'fixtures/realtools/buildkit/app.oci.tar');
      const script = `set -o pipefail; node '${bin}' tag '${input}' docker.io/imgpack/app-bk:1 piped/${flavour}:1 -o - | (${docker(flavour, 'load')}) && ${docker(flavour, `image inspect --format '{{json .RepoTags}}' piped/${flavour}:1`)}`;
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toContain(`Loaded image: piped/${flavour}:1`);
      expect(r.stdout).toContain(`"piped/${flavour}:1"`);
      spawnSync('bash', ['-c', docker(flavour, `rmi -f piped/${flavour}:1 imgpack/app-bk:1`)]);
    });
  }
});
