import { describe, expect, it } from 'vitest';
import { buildImage, ociEntries, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const base = { files: { 'etc/os-release': 'ID=test\n', 'bin/sh': 'sh' } };
const v1 = await buildImage({ names: ['app:1'], cmd: ['/bin/app'], layers: [base, { files: { 'app/main': 'v1', 'app/old': 'o' } }] });
const v2 = await buildImage({ names: ['app:2'], cmd: ['/bin/app', '--new'], layers: [base, { files: { 'app/main': 'v2', 'app/added': 'a' } }] });
const a1 = writeTemp(dir, 'v1.tar', await tarBuffer(ociEntries([v1])));
const a2 = writeTemp(dir, 'v2.tar', await tarBuffer(ociEntries([v2])));

describe('diff', () => {
  it('reports layers, configuration and files that changed', async () => {
    const r = await runCli('diff', a1, a2, '--json');
    expect(r.code).toBe(0);
    const d = r.json();
    expect(d.same).toBe(false);
    expect(d.layers).toEqual({ shared: [v1.layers[0].diffId], onlyA: [v1.layers[1].diffId], onlyB: [v2.layers[1].diffId] });
    expect(d.config).toEqual([{ field: 'config.Cmd', a: ['/bin/app'], b: ['/bin/app', '--new'] }]);
    expect(d.files).toMatchObject({ added: ['app/added'], removed: ['app/old'], changed: [{ path: 'app/main', fields: ['digest'] }] });
    expect(d.files.changed[0].a.digest).toMatch(/^sha256:/);
    expect(d.files.changed[0].b.digest).not.toBe(d.files.changed[0].a.digest);
  });

  it('shows the old and the new value of each changed field of a file', async () => {
    const m1 = await buildImage({ names: ['m:1'], layers: [{ files: { 'etc/conf': 'abc', 'bin/run': 'x' }, modes: { 'bin/run': 0o755 }, symlinks: { 'lib/link': 'one' } }] });
    const m2 = await buildImage({ names: ['m:2'], layers: [{ files: { 'etc/conf': 'abcde', 'bin/run': 'x' }, modes: { 'bin/run': 0o700 }, symlinks: { 'lib/link': 'two' } }] });
    const r = await runCli('diff', writeTemp(dir, 'm1.tar', await tarBuffer(ociEntries([m1]))), writeTemp(dir, 'm2.tar', await tarBuffer(ociEntries([m2]))));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('~ bin/run mode 0755 -> 0700\n');
    expect(r.stdout).toMatch(/~ etc\/conf size 3 -> 5 bytes, content [0-9a-f]{12} -> [0-9a-f]{12}\n/);
    expect(r.stdout).toContain('~ lib/link link target one -> two\n');
  });

  it('--exit-code: 1 when the images differ, 0 when they are the same', async () => {
    expect((await runCli('diff', a1, a2, '--exit-code')).code).toBe(1);
    const same = await runCli('diff', a1, a1, '--exit-code');
    expect(same.code).toBe(0);
    expect(same.stdout).toBe('The images are the same.\n');
  });
});
