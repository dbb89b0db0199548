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
    expect(d.files).toEqual({ added: ['app/added'], removed: ['app/old'], changed: [{ path: 'app/main', fields: ['digest'] }] });
  });

  it('--exit-code: 1 when the images differ, 0 when they are the same', async () => {
    expect((await runCli('diff', a1, a2, '--exit-code')).code).toBe(1);
    const same = await runCli('diff', a1, a1, '--exit-code');
    expect(same.code).toBe(0);
    expect(same.stdout).toBe('The images are the same.\n');
  });
});
