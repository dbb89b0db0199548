/**
 * Issue 13 item 3: `imgpack load` with no -i and a terminal on standard input refuses at once, as
 * docker does, instead of waiting behind a spinner (and spinning once the terminal closed). A
 * real pseudo-terminal, from Python's pty module, is the standard input of the real command.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliArgv } from '../helpers/spawn.js';
import { tempDir } from '../helpers/tmp.js';

const python = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;
const dir = tempDir();

const script = `
import os, pty, subprocess, sys, time
master, slave = pty.openpty()
t = time.time()
p = subprocess.Popen(sys.argv[1:], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = p.communicate(timeout=20)
sys.stdout.write('%d\\n%.2f\\n%s' % (p.returncode, time.time() - t, err.decode()))
`;

describe.skipIf(!python)('a terminal on standard input', () => {
  for (const args of [['load'], ['inspect', '-'], ['convert', '-', '-o', join(dir, 'out.tar')]]) {
    it(`imgpack ${args.join(' ')} refuses at once (exit 2), adding and writing nothing`, () => {
      const store = join(dir, `store-${args[0]}`);
      const r = spawnSync('python3', ['-c', script, process.execPath, ...cliArgv('--store', store, ...args)], { encoding: 'utf8', timeout: 30_000 });
      const [code, seconds, stderr] = [r.stdout.split('\n')[0], Number(r.stdout.split('\n')[1]), r.stdout.split('\n').slice(2).join('\n')];
      expect([code, stderr]).toEqual(['2', 'imgpack: standard input is a terminal; give -i FILE or pipe an archive\n']);
      expect(seconds).toBeLessThan(10); // it does not wait for input (the command itself starts in ~0.2 s)
      expect(existsSync(join(store, 'index.json'))).toBe(false);
      expect(existsSync(join(dir, 'out.tar'))).toBe(false);
    });
  }
});
