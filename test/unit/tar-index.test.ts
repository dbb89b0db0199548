import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { indexTarFile } from '../../src/io/tar-index.js';
import { encodeHeader } from '../../src/io/tar-writer.js';
import { tarBuffer } from '../../src/testing/build.js';
import { content, END, header, member } from '../helpers/raw-tar.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
let n = 0;
const write = (data: Buffer) => writeTemp(dir, `t${n++}.tar`, data);

describe('seek-based tar index', () => {
  it('indexes members with offsets and no reading of content', async () => {
    const tar = await tarBuffer([{ name: 'a.txt', data: Buffer.from('hello') }, { name: 'dir/', directory: true }, { name: 'dir/b', data: Buffer.alloc(2000, 7) }, { name: 'l', symlink: 'a.txt' }]);
    const idx = await indexTarFile(write(tar));
    expect(idx.problems).toEqual([]);
    expect(idx.sawEndMarker).toBe(true);
    expect(idx.entries.map((e) => [e.name, e.type, e.size])).toEqual([['a.txt', 'file', 5], ['dir', 'directory', 0], ['dir/b', 'file', 2000], ['l', 'symlink', 0]]);
    const a = idx.entries[0];
    expect(tar.subarray(a.dataOffset, a.dataOffset + a.size).toString()).toBe('hello');
    expect(idx.entries[3].linkname).toBe('a.txt');
  });

  it('reads PAX long names (tar-stream writes them)', async () => {
    const long = 'd/'.repeat(80) + 'file-with-a-long-name.txt';
    const idx = await indexTarFile(write(await tarBuffer([{ name: long, data: Buffer.from('x') }])));
    expect(idx.entries.map((e) => e.name)).toEqual([long]);
  });

  it('reads GNU long names and long link names', async () => {
    const long = 'g/'.repeat(70) + 'name';
    const target = 't/'.repeat(70) + 'target';
    const tar = Buffer.concat([
      header('././@LongLink', { type: 'L', size: long.length + 1, magic: 'gnu' }), content(long + '\0'),
      header('short', { size: 3, magic: 'gnu' }), content('abc'),
      header('././@LongLink', { type: 'K', size: target.length + 1, magic: 'gnu' }), content(target + '\0'),
      header('link', { type: '2', magic: 'gnu' }),
      END,
    ]);
    const idx = await indexTarFile(write(tar));
    expect(idx.problems).toEqual([]);
    expect(idx.entries.map((e) => [e.name, e.size, e.linkname])).toEqual([[long, 3, undefined], ['link', 0, target]]);
  });

  it('reads base-256 sizes (files of 8 GiB and more) without reading them', async () => {
    const big = 9n * 1024n ** 3n;
    const tar = Buffer.concat([header('huge', { base256Size: big }), Buffer.alloc(512)]);
    const idx = await indexTarFile(write(tar));
    expect(idx.entries[0].size).toBe(Number(big));
    expect(idx.problems.map((p) => p.code)).toContain('tar-truncated');
  });

  it('strips ./ prefixes and reports unsafe names', async () => {
    const tar = Buffer.concat([member('./manifest.json', '[]'), member('/etc/passwd', 'x'), member('a/../../x', 'y'), END]);
    const idx = await indexTarFile(write(tar));
    expect(idx.entries[0].name).toBe('manifest.json');
    expect(idx.problems.filter((p) => p.code === 'tar-unsafe-name').map((p) => p.subject)).toEqual(['/etc/passwd', 'a/../../x']);
  });

  it('reports truncation, a corrupt header, duplicates, a missing end and trailing garbage', async () => {
    const full = Buffer.concat([member('a', 'x'.repeat(600)), END]);
    expect((await indexTarFile(write(full.subarray(0, 700)))).problems.map((p) => [p.code, p.end])).toEqual([['tar-truncated', { at: 700, member: 'a', have: 188, need: 600 }]]);
    const corrupt = Buffer.from(full);
    corrupt[10] ^= 0xff;
    expect((await indexTarFile(write(corrupt))).problems.map((p) => p.code)).toEqual(['tar-corrupt-header']);
    const dup = Buffer.concat([member('a', '1'), member('a', '2'), END]);
    expect((await indexTarFile(write(dup))).problems.map((p) => p.code)).toEqual(['tar-duplicate']);
    // Without end blocks on a member boundary: a warning here; the archive's reader decides (source.ts).
    expect((await indexTarFile(write(member('a', '1')))).problems.map((p) => [p.code, p.severity, p.end])).toEqual([['tar-no-end', 'warning', { at: 1024, after: 'a' }]]);
    // A cut inside the next header is a truncation; a cut inside the end blocks is a whole archive.
    const inHeader = await indexTarFile(write(Buffer.concat([member('a', '1'), member('b', '2').subarray(0, 300)])));
    expect(inHeader.problems.map((p) => [p.code, p.end])).toEqual([['tar-truncated', { at: 1324, member: 'the header at byte 1024', have: 300, need: 512 }]]);
    expect((await indexTarFile(write(Buffer.concat([member('a', '1'), END.subarray(0, 700)])))).problems).toEqual([]);
    const garbage = Buffer.concat([member('a', '1'), END, Buffer.from('garbage')]);
    expect((await indexTarFile(write(garbage))).problems.map((p) => [p.code, p.severity])).toEqual([['tar-trailing-garbage', 'warning']]);
  });

  it('a member of 9 GiB written by our encoder (PAX size and base-256) reads back exactly, and GNU tar agrees', async () => {
    // A sparse file: header, 9 GiB of holes, padding, end blocks. Nothing is really written.
    const size = 9 * 2 ** 30 + 123;
    const path = join(dir, 'huge.tar');
    const head = encodeHeader({ name: 'big.bin', size, type: '0' });
    const fd = openSync(path, 'w');
    writeSync(fd, head, 0, head.length, 0);
    const end = head.length + Math.ceil(size / 512) * 512;
    writeSync(fd, Buffer.alloc(1024), 0, 1024, end);
    closeSync(fd);
    const idx = await indexTarFile(path);
    expect(idx.problems).toEqual([]);
    expect(idx.entries.map((e) => [e.name, e.size, e.dataOffset])).toEqual([['big.bin', size, head.length]]);
    const gnu = spawnSync('tar', ['-tvf', path], { encoding: 'utf8', timeout: 60_000 });
    if (gnu.error) return; // no GNU tar here
    expect(gnu.status, gnu.stderr).toBe(0);
    expect(gnu.stdout).toMatch(new RegExp(`\\s${size}\\s.*big\\.bin\\n$`));
  });
});
