/**
 * Hostile layer CONTENTS, for export, diff and commit: entries that would escape the root
 * through a symlinked parent, hardlinks out of the root, whiteouts of `..` and `.`, absolute and
 * climbing names, device nodes, fifos, setuid/setgid files. imgpack never extracts onto the host:
 * these are data in the output tar; what an extractor could abuse is skipped and reported.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { extract } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { sha256, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { content, END, header } from '../helpers/raw-tar.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const entry = (name: string, opts: { data?: string; type?: string; linkname?: string; mode?: string } = {}) => {
  const h = header(name, { size: opts.type && opts.type !== '0' ? 0 : Buffer.byteLength(opts.data ?? ''), type: opts.type, linkname: opts.linkname });
  if (opts.mode) { // rewrite the mode and the checksum
    h.write(opts.mode, 100);
    h.fill(32, 148, 156);
    let sum = 0;
    for (const x of h) sum += x;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  }
  return Buffer.concat([h, opts.type && opts.type !== '0' ? Buffer.alloc(0) : content(opts.data ?? '')]);
};

const hostileLayer = Buffer.concat([
  entry('etc', { type: '2', linkname: '/' }), // symlink etc -> /
  entry('etc/passwd', { data: 'root::0:0::/:/bin/sh\n' }), // written through it by a naive extractor
  entry('up', { type: '2', linkname: '../../..' }),
  entry('up/escape.txt', { data: 'x' }),
  entry('hl', { type: '1', linkname: '../../etc/shadow' }), // hardlink out of the root
  entry('.wh...'), entry('a/.wh..'), entry('a/.wh.'), // whiteouts of .., . and nothing
  entry('dev/null', { type: '3' }), entry('dev/sda', { type: '4' }), entry('fifo', { type: '6' }),
  entry('suid', { data: '#!/bin/sh\n', mode: '0004755' }), entry('sgid', { data: '#!/bin/sh\n', mode: '0002755' }),
  entry('../../outside.txt', { data: 'x' }), entry('/abs.txt', { data: 'abs' }),
  END,
]);
const okLayer = Buffer.concat([entry('ok.txt', { data: 'ok' }), END]);

async function archive(name: string, layers: Buffer[]) {
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha256) } }));
  return writeTemp(dir, name, await tarBuffer([
    ...layers.map((data, i) => ({ name: `l${i}.tar`, data })),
    { name: 'c.json', data: cfg },
    { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: [`${name.replace('.tar', '')}:1`], Layers: layers.map((_, i) => `l${i}.tar`) }])) },
  ]));
}

async function members(tar: string) {
  const out: { name: string; type: string; mode: number; linkname?: string }[] = [];
  const ex = extract();
  const done = (async () => { for await (const e of ex) { out.push({ name: e.header.name, type: e.header.type ?? '', mode: e.header.mode ?? 0, linkname: e.header.linkname ?? undefined }); e.resume(); } })();
  ex.end(readFileSync(tar));
  await done;
  return out;
}

describe('hostile layer contents', () => {
  it('export: escapes skipped and reported, devices and setuid kept as data, nothing created on the host', async () => {
    const src = await archive('hostile.tar', [hostileLayer, okLayer]);
    const out = join(dir, 'rootfs.tar');
    const before = readdirSync(dir).sort();
    const r = await runCli('export', src, '-o', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().skipped).toEqual([
      { path: '../../outside.txt', reason: 'climbs out of the root' },
      { path: 'etc/passwd', reason: 'a parent is a symlink or not a directory' },
      { path: 'up/escape.txt', reason: 'a parent is a symlink or not a directory' },
      { path: 'hl', reason: 'hardlink target ../../etc/shadow is outside the root' },
    ]);
    const m = await members(out);
    const byName = new Map(m.map((x) => [x.name.replace(/\/$/, ''), x]));
    for (const x of m) {
      expect(x.name.startsWith('/') || x.name.split('/').includes('..'), x.name).toBe(false);
      if (x.type === 'link') expect(x.linkname!.startsWith('/') || x.linkname!.split('/').includes('..')).toBe(false);
    }
    expect(byName.get('etc')).toMatchObject({ type: 'symlink', linkname: '/' }); // a symlink is content; it is not followed
    expect(byName.has('etc/passwd')).toBe(false);
    expect(byName.get('dev/null')?.type).toBe('character-device');
    expect(byName.get('dev/sda')?.type).toBe('block-device');
    expect(byName.get('fifo')?.type).toBe('fifo');
    expect(byName.get('suid')!.mode & 0o7777).toBe(0o4755);
    expect(byName.get('sgid')!.mode & 0o7777).toBe(0o2755);
    expect(byName.get('abs.txt')?.type).toBe('file'); // a leading / is relative to the root, as docker applies it
    expect([...byName.keys()].some((k) => k.includes('.wh.'))).toBe(false);
    // Only the asked-for output appeared: no device node, fifo or file was made on the host.
    expect(readdirSync(dir).sort()).toEqual([...before, 'rootfs.tar'].sort());
  });

  it('a later layer replacing a directory with a symlink hides what lower layers had under it', async () => {
    const lower = Buffer.concat([entry('etc/', { type: '5' }), entry('etc/hosts', { data: 'h' }), END]);
    const upper = Buffer.concat([entry('etc', { type: '2', linkname: '/tmp' }), END]);
    const r = await runCli('export', await archive('replace.tar', [lower, upper]), '-o', join(dir, 'replace-rootfs.tar'), '--json');
    expect(r.code, r.stderr).toBe(0);
    const names = (await members(join(dir, 'replace-rootfs.tar'))).map((x) => x.name);
    expect(names).toContain('etc');
    expect(names).not.toContain('etc/hosts');
  });

  it('diff lists neither escaped nor skipped paths; both sides are read safely', async () => {
    const a = await archive('a.tar', [hostileLayer]);
    const b = await archive('b.tar', [okLayer]);
    const r = await runCli('diff', a, b, '--json');
    expect(r.code, r.stderr).toBe(0);
    const all = [...r.json().files.added, ...r.json().files.removed];
    expect(all.some((p: string) => p.includes('..') || p === 'etc/passwd' || p === 'up/escape.txt' || p === 'hl')).toBe(false);
  });

  it('commit --add of a hostile tar: climbing names and hardlinks out of the root are dropped', async () => {
    const addTar = writeTemp(dir, 'add.tar', Buffer.concat([entry('../../x', { data: 'x' }), entry('hl', { type: '1', linkname: '../../etc/shadow' }), entry('fine.txt', { data: 'f' }), END]));
    const out = join(dir, 'committed.tar');
    const r = await runCli('commit', 'scratch', '--add', `${addTar}:/app`, '-t', 'c:1', '-o', out, '--source-date-epoch', '0');
    expect(r.code, r.stderr).toBe(0);
    const e = await runCli('export', out, '-o', join(dir, 'committed-rootfs.tar'));
    expect(e.code, e.stderr).toBe(0);
    const names = (await members(join(dir, 'committed-rootfs.tar'))).map((x) => x.name);
    expect(names).toContain('app/fine.txt');
    expect(names.some((n) => n.includes('..') || n.endsWith('hl'))).toBe(false);
  });
});
