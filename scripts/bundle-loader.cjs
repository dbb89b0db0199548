'use strict';
// A signal that comes while the program loads (a third of a second on a busy machine) ends it
// with the exit code CLI.md gives, 128 + N: nothing has started yet. The program replaces this
// handler with its own as soon as it runs (src/cli/signals.ts).
function imgpackLoading(signal) {
  process.exit({ SIGHUP: 129, SIGINT: 130, SIGTERM: 143 }[signal]);
}
for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM']) process.on(signal, imgpackLoading);
// The single-file build of imgpack (scripts/bundle.mjs; the program's source is src/). The
// program is the string below, compiled with V8's code cache kept in $IMGPACK_CACHE, else
// $XDG_CACHE_HOME/imgpack, else ~/.cache/imgpack: compiling it is about a third of start-up, and
// Node 20 has no compile cache of its own (module.enableCompileCache is Node 22).
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const { wrap } = require('node:module');
const { homedir } = require('node:os');
const { join } = require('node:path');
const { Script } = require('node:vm');

const SOURCE = __IMGPACK_SOURCE__;
const cacheDir = process.env.IMGPACK_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'imgpack');
// V8 refuses a cache made by another V8 or for other code; the key spares it the work.
const cacheFile = join(cacheDir, `code-${__IMGPACK_KEY__}-${process.version}.v8cache`);
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new Script(wrap(SOURCE), { filename: __filename, cachedData });
if (cachedData === undefined || script.cachedDataRejected) {
  // Written at exit, so that the functions this run compiled are in it too.
  process.once('exit', () => {
    try {
      mkdirSync(cacheDir, { recursive: true });
      const temp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(temp, script.createCachedData());
      renameSync(temp, cacheFile);
    } catch {
      // a read-only home: run without a cache
    }
  });
}
script.runInThisContext()(exports, require, module, __filename, __dirname);
