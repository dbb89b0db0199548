/**
 * find-images against the real kustomize (kubectl kustomize, v5.5 here): for every kustomization
 * case, and for ../shared/manifests/argo-cd-redis, reading the directory gives exactly the
 * references of what kubectl builds from it (piped to find-images -). kubectl is not one of the
 * tools ../shared/tools/realtools installs: where it is missing these tests are skipped, and say so.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { findImages } from '../../src/ops/find-images.js';
import { KUSTOMIZE_CASES, writeCase } from '../helpers/kustomize-cases.js';
import { SHARED } from '../helpers/shared.js';
import { tempDir } from '../helpers/tmp.js';

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const available = kubectl.status === 0;
if (!available) console.warn('find-images interop: kubectl is not installed; the kustomize comparisons are skipped');
const dir = tempDir();

async function viaKubectl(root: string): Promise<string[]> {
  const built = spawnSync('kubectl', ['kustomize', root], { encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
  const r = await findImages(['-'], { stdin: Readable.from([Buffer.from(built.stdout)]), env: {} });
  expect(r.problems).toEqual([]);
  return r.references.map((x) => x.reference);
}

describe.skipIf(!available)(`find-images and kubectl kustomize (${kubectl.stdout?.match(/Kustomize Version: (\S+)/)?.[1] ?? 'absent'})`, () => {
  for (const [i, c] of KUSTOMIZE_CASES.entries()) {
    it(c.name, async () => {
      const root = writeCase(join(dir, `case${i}`), c);
      const built = await viaKubectl(root);
      expect(built).toEqual(c.expect);
      const ours = await findImages([root], { env: {} });
      expect(ours.references.map((x) => x.reference)).toEqual(built);
    });
  }

  it('../shared/manifests/argo-cd-redis', async () => {
    const root = resolve(SHARED, 'manifests/argo-cd-redis');
    const ours = await findImages([root], { env: {} });
    expect(ours.references.map((x) => x.reference)).toEqual(await viaKubectl(root));
  });

  it('kustomize refuses a numeric newTag, and so does find-images', async () => {
    const root = writeCase(join(dir, 'numeric'), { name: '', root: '.', expect: [], files: { 'kustomization.yaml': 'resources: []\nimages:\n- name: a\n  newTag: 1.20\n' } });
    expect(spawnSync('kubectl', ['kustomize', root], { encoding: 'utf8' }).status).not.toBe(0);
    expect((await findImages([root], { env: {} })).problems.map((p) => p.code)).toEqual(['kustomize-image-field']);
  });
});
