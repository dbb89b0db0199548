#!/usr/bin/env node
/**
 * `npm run build:sea`: imgpack as a single executable for this platform (linux-x64 here), which
 * runs on a machine without Node: a copy of the running `node` with the bundle (scripts/bundle.mjs,
 * CommonJS as Node 20's single executable applications require) injected by postject, as
 * https://nodejs.org/api/single-executable-applications.html describes. Writes dist/imgpack.
 * The hash workers are `new Worker(source, { eval: true })`, which works inside the executable.
 *   node scripts/sea.mjs [--outfile F]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { inject } from 'postject';

const root = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({ options: { outfile: { type: 'string' } } });
const outfile = values.outfile ?? `${root}dist/imgpack`;
const work = mkdtempSync(join(tmpdir(), 'imgpack-sea-'));
try {
  const main = join(work, 'imgpack.cjs');
  execFileSync(process.execPath, [`${root}scripts/bundle.mjs`, '--outfile', main, '--plain'], { stdio: ['ignore', 'ignore', 'inherit'] });
  // The embedded script is compiled as a function body, where a #! line is a syntax error.
  writeFileSync(main, readFileSync(main, 'utf8').replace(/^#!.*\n/, ''));
  const blob = join(work, 'sea-prep.blob');
  writeFileSync(join(work, 'sea-config.json'), JSON.stringify({
    main,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true, // V8's compiled code in the blob: a faster start
  }));
  execFileSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exe = join(work, 'imgpack');
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  // Node's release binaries carry symbols and debug information: 12 MiB that nobody needs here.
  if (spawnSync('strip', [exe], { stdio: 'ignore' }).status !== 0) console.error('strip failed or is not installed: the executable keeps its symbols');
  // (postject's LIEF prints "Can't find string offset for section name '.note...'": harmless.)
  await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2' });
  copyFileSync(exe, `${outfile}.tmp`);
  chmodSync(`${outfile}.tmp`, 0o755);
  execFileSync('mv', ['-f', `${outfile}.tmp`, outfile]);
  const version = execFileSync(outfile, ['--version'], { encoding: 'utf8' }).trim();
  console.log(`${outfile.replace(root, '')}: ${(statSync(outfile).size / 1048576).toFixed(1)} MiB, imgpack ${version} on node ${process.version} (${process.platform}-${process.arch})`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
