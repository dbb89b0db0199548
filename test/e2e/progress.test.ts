/**
 * Progress is drawn for real on a terminal (a pty made by `script`), and never without one or
 * with --quiet / --json.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, tarBuffer } from '../../src/testing/build.js';
import { cliArgv, runProcess } from '../helpers/spawn.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const hasScript = spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status === 0;
const dir = tempDir();
const img = await buildImage({ names: ['progress:1'], layers: Array.from({ length: 8 }, (_, i) => ({ files: { [`f${i}`]: randomBytes(3 << 20).toString('base64') } })) }, 'docker');
const archive = writeTemp(dir, 'p.tar', await tarBuffer(dockerArchiveEntries([img])));
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function inPty(args: string[]): string {
  const log = join(dir, `pty-${Math.random().toString(36).slice(2)}.log`);
  const cmd = [process.execPath, ...cliArgv(...args)].map(quote).join(' ');
  const r = spawnSync('script', ['-qfc', cmd, log], { env: { ...process.env, COLUMNS: '120' }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(log, 'utf8');
}

describe.skipIf(!hasScript)('progress on a terminal', () => {
  it('draws bytes done / total, rate and the current item while writing and verifying', () => {
    const screen = inPty(['convert', archive, '-o', join(dir, 'out.tar')]);
    const frames = screen.split('\r').filter((f) => / \d+% \[/.test(f));
    expect(frames.length).toBeGreaterThan(0);
    expect(frames[0], JSON.stringify(frames[0])).toMatch(/^(writing |\.\.\.).*out\.tar +\d+% \[[=> ]+\] [\d.]+[kMG]?B\/[\d.]+[kMG]?B [\d.]+[kMG]?B\/s/);
    expect(screen).toMatch(/Wrote .*out\.tar \(hybrid\)/);
    const v = inPty(['verify', archive]);
    expect(v.split('\r').some((f) => / \d+% \[/.test(f) && f.includes('p.tar'))).toBe(true);
  });

  it('draws a phase of unknown size as a plain line on a terminal that reports no width (script\'s pty), and ends', () => {
    const log = join(dir, 'pty-stdin.log');
    const cmd = `cat ${quote(archive)} | ${[process.execPath, ...cliArgv('convert', '-', '-o', join(dir, 'from-stdin.tar'))].map(quote).join(' ')}`;
    // Before: ora divided by the width 0 and cleared lines upwards for ever.
    const r = spawnSync('script', ['-qfc', cmd, log], { encoding: 'utf8', timeout: 20_000, maxBuffer: 1 << 26 });
    expect(r.status, r.stderr).toBe(0);
    const screen = readFileSync(log, 'utf8');
    expect(screen).toContain('\rreading standard input\x1b[K');
    expect(screen).toMatch(/Wrote .*from-stdin\.tar \(hybrid\)/);
  });

  it('draws nothing with --quiet or --json, or without a terminal', () => {
    expect(inPty(['convert', archive, '-o', join(dir, 'q.tar'), '--quiet'])).not.toContain('%');
    expect(inPty(['verify', archive, '--json'])).not.toMatch(/\r(verifying)/);
    const plain = runProcess(['convert', archive, '-o', join(dir, 'plain.tar')]);
    expect(plain.stderr).not.toContain('\r');
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
  });
});
