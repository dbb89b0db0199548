/**
 * Every valid archive of ../shared, pushed into a real distribution registry (started here,
 * plain HTTP on loopback) and pulled back: the same image IDs and diffIDs; manifests the source
 * already had keep their digests; a second push uploads nothing.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { runCli } from '../helpers/cli.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { realToolsAvailable } from '../helpers/realtools.js';
import { loadItems, SHARED, sharedAvailable } from '../helpers/shared.js';

const available = sharedAvailable() && realToolsAvailable() && spawnSync('sh', ['-c', 'command -v docker-registry']).status === 0;
const work = join(tmpdir(), `imgpack-registry-roundtrip-${process.pid}`);
let reg: Distribution;
beforeAll(async () => {
  if (available) reg = await startDistribution(join(work, 'registry'));
});
afterAll(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Img { id: string; layers: { diffId: string }[]; manifestDigests: string[]; platform?: unknown }

describe.skipIf(!available)('a multi-platform index pushed by imgpack', () => {
  it('survives whole: the same index digest pulled back, and skopeo copies every platform', async () => {
    const file = join(SHARED, 'fixtures/realtools/buildah/multiarch.oci.tar');
    const input = (await runCli('inspect', file, '--json')).json();
    const ref = `${reg.host}/multi/index:1`;
    const pushed = await runCli('copy', file, `docker://${ref}`);
    expect(pushed.code, pushed.stderr).toBe(0);
    const back = join(work, 'multi-back/');
    expect((await runCli('pull', '--all-platforms', ref, '-o', back)).code).toBe(0);
    const out = (await runCli('inspect', back, '--json')).json();
    expect(out.indexes.map((i: { digest: string }) => i.digest)).toEqual(input.indexes.map((i: { digest: string }) => i.digest));
    expect(out.images.map((i: Img) => i.id).sort()).toEqual(input.images.map((i: Img) => i.id).sort());
    const sk = spawnSync('skopeo', ['copy', '-q', '--all', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(work, 'multi-skopeo')}:x`], { encoding: 'utf8', timeout: 120_000 });
    expect(sk.status, sk.stderr).toBe(0);
  });
});

describe.skipIf(!available)('push every valid ../shared archive and pull it back', () => {
  const items = loadItems().filter((x) => x.item.valid === true && (x.item.expect?.length ?? 0) > 0);
  items.forEach(({ label, file }, n) => {
    it(label, async () => {
      const input = (await runCli('inspect', file, '--json')).json();
      for (const [i, img] of (input.images as Img[]).entries()) {
        const ref = `${reg.host}/rt${n}/img${i}:t`;
        // By manifest digest where there is one: an image ID may be reachable through several indexes.
        const pick = img.manifestDigests[0] ?? img.id;
        const pushed = await runCli('copy', file, '--image', pick, `docker://${ref}`, '--json');
        expect(pushed.code, `push ${img.id}: ${pushed.stderr}`).toBe(0);
        const back = join(work, `${n}-${i}/`); // an OCI layout keeps every byte (a .tar would be docker-loadable: zstd -> gzip)
        const pulled = await runCli('pull', ref, '-o', back, '--all-platforms');
        expect(pulled.code, `pull ${ref}: ${pulled.stderr}`).toBe(0);
        const out = (await runCli('inspect', back, '--json')).json().images as Img[];
        expect(out.map((o) => o.id)).toEqual([img.id]);
        expect(out[0].layers.map((l) => l.diffId)).toEqual(img.layers.map((l) => l.diffId));
        // A manifest the source had travels byte for byte; docker <= 24 archives have none.
        if (img.manifestDigests.length) expect(img.manifestDigests).toContain(out[0].manifestDigests[0]);
        const again = await runCli('copy', file, '--image', pick, `docker://${ref}`, '--json');
        expect(again.json().pushed[0].uploaded).toBe(0);
        rmSync(back, { recursive: true, force: true });
      }
    });
  });
});
