/**
 * export -o DIR/: the flattened file system unpacked by tar-fs behind imgpack's own filter.
 * These run as whatever user runs the tests; the owner and device cases need root and say so.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pack, type Header } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { openSource } from '../../src/formats/source.js';
import { exportToDirectory } from '../../src/ops/export-dir.js';
import { sha256, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const root = process.getuid?.() === 0;

async function layer(entries: { header: Partial<Header> & { name: string }; data?: string }[]): Promise<Buffer> {
  const p = pack();
  for (const e of entries) p.entry(e.header as Header, e.data ?? '');
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function archive(name: string, layers: Buffer[]): Promise<string> {
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha256) } }));
  return writeTemp(dir, name, await tarBuffer([
    ...layers.map((data, i) => ({ name: `l${i}.tar`, data })),
    { name: 'c.json', data: cfg },
    { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['fs:1'], Layers: layers.map((_, i) => `l${i}.tar`) }])) },
  ]));
}

const mtime = new Date('2024-01-02T03:04:05Z');
const base = await layer([
  { header: { name: 'bin/', type: 'directory', mode: 0o755, mtime } },
  { header: { name: 'bin/busybox', mode: 0o755, uid: 0, gid: 0, mtime }, data: '#!busybox\n' },
  { header: { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', mtime } }, // absolute: a link inside the image
  { header: { name: 'bin/ash', type: 'link', linkname: 'bin/busybox', mtime } },
  { header: { name: 'home/app/', type: 'directory', mode: 0o750, uid: 4321, gid: 4321, uname: 'nosuchuser-imgpack', gname: 'nosuchgroup-imgpack', mtime } },
  { header: { name: 'home/app/data', mode: 0o600, uid: 4321, gid: 4321, mtime }, data: 'secret' },
  { header: { name: 'usr/bin/su', mode: 0o4755, mtime }, data: 'su' },
  { header: { name: 'tmp/', type: 'directory', mode: 0o1777, mtime } },
  { header: { name: 'run/ctl', type: 'fifo', mode: 0o600, mtime } },
  { header: { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3, mtime } },
  { header: { name: 'gone', mtime }, data: 'deleted by the next layer' },
]);
const top = await layer([
  { header: { name: '.wh.gone', mtime } },
  { header: { name: 'etc', type: 'symlink', linkname: '/', mtime } },
  { header: { name: 'etc/passwd', mtime }, data: 'written through the link by a naive extractor' },
  { header: { name: 'hl', type: 'link', linkname: '../../outside', mtime } },
]);

describe('export -o DIR/ (tar-fs behind imgpack filter)', () => {
  it('unpacks the flattened tree with modes as recorded, links as they are, and nothing outside DIR', async () => {
    const source = await openSource(await archive('fs.tar', [base, top]));
    const out = join(dir, 'rootfs');
    try {
      const r = await exportToDirectory(source, source.catalog.images[0], `${out}/`);
      expect(readFileSync(join(out, 'bin/busybox'), 'utf8')).toBe('#!busybox\n');
      expect(readlinkSync(join(out, 'bin/sh'))).toBe('/bin/busybox');
      expect(statSync(join(out, 'bin/ash')).ino).toBe(statSync(join(out, 'bin/busybox')).ino);
      expect(statSync(join(out, 'home/app')).mode & 0o7777).toBe(0o750);
      expect(statSync(join(out, 'home/app/data')).mode & 0o7777).toBe(0o600);
      expect(statSync(join(out, 'usr/bin/su')).mode & 0o7777).toBe(0o4755);
      expect(statSync(join(out, 'tmp')).mode & 0o7777).toBe(0o1777);
      expect(statSync(join(out, 'bin/busybox')).mtime.toISOString()).toBe(mtime.toISOString());
      expect(lstatSync(join(out, 'run/ctl')).isFIFO()).toBe(true);
      expect(existsSync(join(out, 'gone'))).toBe(false);
      // etc -> / is kept as a link; etc/passwd behind it and the hardlink out are never written
      expect(readlinkSync(join(out, 'etc'))).toBe('/');
      expect(existsSync(join(out, 'hl'))).toBe(false);
      expect(r.skipped.map((s) => s.path).sort()).toEqual(expect.arrayContaining(['etc/passwd', 'hl']));
      // the device node is skipped without --devices (even as root)
      expect(existsSync(join(out, 'dev/null'))).toBe(false);
      expect(r.skipped.find((s) => s.path === 'dev/null')?.reason).toMatch(/root with --devices/);
      expect(readdirSync(dir).filter((n) => n.includes('.tmp'))).toEqual([]);
    } finally {
      await source.close();
    }
  });

  it.skipIf(!root)('as root: owners by number (no such names here), device nodes with --devices', async () => {
    const file = await archive('fs2.tar', [base]);
    const out = join(dir, 'rootfs-root');
    const r = await runCli('export', file, '-o', `${out}/`, '--devices');
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(join(out, 'home/app')).uid).toBe(4321);
    expect(statSync(join(out, 'home/app/data')).gid).toBe(4321);
    expect(statSync(join(out, 'usr/bin/su')).mode & 0o7777).toBe(0o4755); // after the chown, not cleared by it
    const dev = lstatSync(join(out, 'dev/null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe(statSync('/dev/null').rdev);
  });

  it.skipIf(!root)('as root: an owner name this host knows wins over the number, unless --numeric-owner', async () => {
    const named = await layer([{ header: { name: 'f', mode: 0o644, uid: 777, gid: 777, uname: 'root', gname: 'root', mtime }, data: 'x' }]);
    const file = await archive('named.tar', [named]);
    for (const [flags, uid] of [[[], 0], [['--numeric-owner'], 777]] as const) {
      const out = join(dir, `named-${uid}`);
      const r = await runCli('export', file, '-o', `${out}/`, ...flags);
      expect(r.code, r.stderr).toBe(0);
      expect(statSync(join(out, 'f')).uid).toBe(uid);
    }
  });

  it('an image whose first entry is a file at the top (no directory entries) unpacks too', async () => {
    const file = await archive('flat.tar', [await layer([{ header: { name: 'hello', mode: 0o644, mtime }, data: 'hi' }])]);
    const out = join(dir, 'flat');
    const r = await runCli('export', file, '-o', `${out}/`);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out)).toEqual(['hello']);
    expect(statSync(out).mode & 0o777).toBe(0o755);
  });

  it('refuses a directory that holds anything, and leaves it as it was', async () => {
    const file = await archive('fs3.tar', [base]);
    const out = join(dir, 'busy');
    mkdirSync(out);
    writeFileSync(join(out, 'mine'), 'keep');
    const r = await runCli('export', file, '-o', `${out}/`);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^imgpack: output directory is not empty \(.*busy\)\n$/);
    expect(readdirSync(out)).toEqual(['mine']);
  });
});
