import { mkdirSync, readFileSync, writeFileSync, symlinkSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyChange } from '../../src/ops/changes.js';
import { buildImage, dockerArchiveEntries, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const base = await buildImage({ names: ['busybox:latest'], layers: [{ files: { 'bin/busybox': 'bb', 'etc/passwd': 'root:x:0:0' } }] }, 'docker');
const baseTar = writeTemp(dir, 'base.tar', await tarBuffer(dockerArchiveEntries([base])));
const html = join(dir, 'html');
mkdirSync(join(html, 'sub'), { recursive: true });
writeFileSync(join(html, 'index.html'), '<h1>This is first page!</h1>\n');
writeFileSync(join(html, 'sub', 'a.txt'), 'a');
mkdirSync(join(html, 'empty'));
const longName = `${'long-directory-name-'.repeat(6)}/file-with-a-name-longer-than-one-hundred-bytes.txt`;
mkdirSync(join(html, longName, '..'), { recursive: true });
writeFileSync(join(html, longName), 'long');
symlinkSync('index.html', join(html, 'home.html'));
linkSync(join(html, 'sub', 'a.txt'), join(html, 'hard.txt'));

const commitArgs = (out: string) => ['commit', baseTar, '-o', out, '-t', 'myhttpd_server:v0.1-1', '--add', `${html}:/data/html`, '-a', 'MageEdu <mage@magedu.com>', '-m', 'first page', '-c', 'CMD ["/bin/httpd","-f","-h","/data/html"]', '-c', 'ENV A=1 B="two words"', '-c', 'EXPOSE 80', '--remove', 'etc/passwd', '--source-date-epoch', '1700000000'];

describe('commit', () => {
  it('adds a layer, records author, message, changes and history, keeps the base', async () => {
    const out = join(dir, 'web.tar');
    const r = await runCli(...commitArgs(out));
    expect(r.code, r.stderr).toBe(0);
    const img = (await runCli('inspect', out, '--json')).json().images[0];
    expect(img.repoTags).toEqual(['docker.io/library/myhttpd_server:v0.1-1']);
    expect(img.layers.map((l: { diffId: string }) => l.diffId).slice(0, 1)).toEqual([base.layers[0].diffId]);
    expect(img.layers).toHaveLength(2);
    expect(img.author).toBe('MageEdu <mage@magedu.com>');
    expect(img.created).toBe('2023-11-14T22:13:20Z');
    expect(img.config).toMatchObject({ Cmd: ['/bin/httpd', '-f', '-h', '/data/html'], Env: expect.arrayContaining(['A=1', 'B=two words']), ExposedPorts: { '80/tcp': {} } });
    expect(img.history.at(-1)).toMatchObject({ created_by: 'imgpack commit', author: 'MageEdu <mage@magedu.com>', comment: 'first page' });
    expect((await runCli('verify', out)).code).toBe(0);
    const rootfs = join(dir, 'rootfs.tar');
    expect((await runCli('export', out, '-o', rootfs)).code).toBe(0);
    const { spawnSync } = await import('node:child_process');
    const list = spawnSync('tar', ['-tvf', rootfs], { encoding: 'utf8' }).stdout;
    expect(list).toContain('data/html/index.html');
    expect(list).toMatch(/data\/html\/home\.html -> index\.html/);
    expect(list).toMatch(/data\/html\/sub\/a\.txt link to data\/html\/hard\.txt|data\/html\/hard\.txt link to data\/html\/sub\/a\.txt/);
    expect(list).not.toContain('etc/passwd');
    expect(list).toContain(`data/html/${longName}`);
    expect(list).toMatch(/^d.* data\/html\/empty\/$/m);
  });

  it('is deterministic with --source-date-epoch', async () => {
    await runCli(...commitArgs(join(dir, 'd1.tar')));
    await runCli(...commitArgs(join(dir, 'd2.tar')));
    expect(readFileSync(join(dir, 'd1.tar')).equals(readFileSync(join(dir, 'd2.tar')))).toBe(true);
  });

  it('works from scratch with a tar, and with no --add changes only the configuration', async () => {
    const rootfs = writeTemp(dir, 'rootfs-in.tar', await tarBuffer([{ name: 'bin/sh', data: Buffer.from('sh') }]));
    const s = join(dir, 'scratch.tar');
    expect((await runCli('commit', 'scratch', '--add', rootfs, '-t', 'mini:1', '-o', s, '--compress', 'none')).code).toBe(0);
    const mini = (await runCli('inspect', s, '--json')).json().images[0];
    expect(mini.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar']);
    const m = join(dir, 'mutated.tar');
    expect((await runCli('commit', baseTar, '-c', 'USER nobody', '-t', 'bb:nobody', '-o', m)).code).toBe(0);
    const img = (await runCli('inspect', m, '--json')).json().images[0];
    expect(img.layers).toHaveLength(1);
    expect(img.config.User).toBe('nobody');
    expect(img.history.at(-1).empty_layer).toBe(true);
  });

  it('bad input is a one-line error', async () => {
    const missing = await runCli('commit', baseTar, '--add', join(dir, 'nope'), '-o', join(dir, 'x.tar'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`imgpack: --add: no such file or directory (${join(dir, 'nope')})\n`);
    const bad = await runCli('commit', baseTar, '-c', 'RUN rm -rf /', '-o', join(dir, 'y.tar'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^imgpack: RUN is not a change docker commit accepts/);
    const noImage = await runCli('commit', baseTar, '--image', 'nginx', '-o', join(dir, 'z.tar'));
    expect(noImage.code).toBe(1);
  });

  it('parses docker commit changes', () => {
    const c: Record<string, unknown> = {};
    applyChange(c, 'CMD echo hi');
    applyChange(c, 'ENTRYPOINT ["/init"]');
    applyChange(c, 'ENV PATH /usr/bin');
    applyChange(c, 'LABEL a=b "c"="d e"');
    applyChange(c, 'VOLUME ["/data"]');
    applyChange(c, 'WORKDIR /app');
    applyChange(c, 'STOPSIGNAL SIGTERM');
    expect(c).toEqual({ Cmd: ['/bin/sh', '-c', 'echo hi'], Entrypoint: ['/init'], Env: ['PATH=/usr/bin'], Labels: { a: 'b', c: 'd e' }, Volumes: { '/data': {} }, WorkingDir: '/app', StopSignal: 'SIGTERM' });
  });
});
