#!/usr/bin/env node
/**
 * `npm run bench:startup`: start-up time of each form of imgpack against a bare `node -e 0`:
 * the normal install (bin/imgpack.cjs, which runs dist/imgpack.cjs), the ES modules of dist/cli/
 * (what bin/imgpack.cjs falls back to without the bundle), the single-file bundle (copied into a
 * folder with no node_modules) and the single executable, when built. Median wall time of
 * `--version` and `inspect samples/web.docker.tar` over STARTUP_RUNS runs (default 20), alternated
 * so that a busy machine slows every form alike. Uses hyperfine when installed. Not a test: it
 * prints a table. Target (issue 7): every form within 1.5x of `node -e 0`.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const runs = Number(process.env.STARTUP_RUNS || 20);
const sample = join(root, 'samples/web.docker.tar');
const away = mkdtempSync(join(tmpdir(), 'imgpack-startup-'));

const forms = [['node -e 0', [process.execPath, '-e', '0']]];
forms.push(['install (bin/imgpack.cjs)', [process.execPath, join(root, 'bin/imgpack.cjs')]]);
forms.push(['ES modules (dist/cli/run.js)', [process.execPath, join(root, 'dist/cli/run.js')]]);
if (existsSync(join(root, 'dist/imgpack.cjs'))) {
  copyFileSync(join(root, 'dist/imgpack.cjs'), join(away, 'imgpack.cjs'));
  forms.push(['bundle (imgpack.cjs)', [process.execPath, join(away, 'imgpack.cjs')]]);
}
if (existsSync(join(root, 'dist/imgpack'))) {
  copyFileSync(join(root, 'dist/imgpack'), join(away, 'imgpack'));
  spawnSync('chmod', ['+x', join(away, 'imgpack')]);
  forms.push(['executable (SEA)', [join(away, 'imgpack')]]);
}
const commands = [['--version', ['--version']], ['inspect', ['inspect', sample]]];

function once(argv) {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const cases = [];
for (const [name, argv] of forms) {
  if (name === 'node -e 0') cases.push({ name, cmd: '', argv });
  else for (const [cmd, args] of commands) cases.push({ name, cmd, argv: [...argv, ...args] });
}
for (const c of cases) { once(c.argv); c.times = []; } // warm the page cache
for (let i = 0; i < runs; i++) for (const c of cases) c.times.push(once(c.argv));

const base = median(cases[0].times);
const size = (f) => (existsSync(f) ? `${(statSync(f).size / 1048576).toFixed(1)} MiB` : '');
console.log(`median of ${runs} runs, node ${process.version}\n`);
console.log('form'.padEnd(28) + 'command'.padEnd(12) + 'median'.padStart(10) + 'vs node -e 0'.padStart(15));
for (const c of cases) {
  const m = median(c.times);
  console.log(c.name.padEnd(28) + c.cmd.padEnd(12) + `${m.toFixed(1)} ms`.padStart(10) + `${(m / base).toFixed(2)}x`.padStart(15));
}
const sizes = [['dist/imgpack.cjs', size(join(root, 'dist/imgpack.cjs'))], ['dist/imgpack (SEA)', size(join(root, 'dist/imgpack'))]].filter(([, s]) => s);
if (sizes.length) console.log('\n' + sizes.map(([f, s]) => `${f}: ${s}`).join('\n'));
rmSync(away, { recursive: true, force: true });
