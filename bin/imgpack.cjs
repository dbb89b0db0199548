#!/usr/bin/env node
// The `imgpack` command. `npm run build` makes dist/cli/ (the compiled modules, also the library)
// and dist/imgpack.cjs (the same CLI as one CommonJS file). The command runs the one file, which
// starts faster: Node 20 loads the ~35 ES modules of dist/cli/ one by one and has no compile
// cache (module.enableCompileCache is Node 22), so this loader keeps V8's code cache of the bundle
// itself, as a single executable does: compiling the bundle is about a third of start-up.
// Without the bundle (tsc alone), it runs dist/cli/main.js.
const { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { createRequire, Module } = require('node:module');
const { homedir } = require('node:os');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const bundle = join(__dirname, '..', 'dist', 'imgpack.cjs');

function runBundle() {
  const source = readFileSync(bundle, 'utf8').replace(/^#!.*/, '');
  const { size, mtimeMs } = statSync(bundle);
  // Keyed by the bundle's size and time and by Node's version: V8 rejects a cache of other code.
  const cacheDir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'imgpack');
  const cacheFile = join(cacheDir, `imgpack-${size}-${Math.floor(mtimeMs)}-${process.version}.v8cache`);
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(Module.wrap(source), { filename: bundle, cachedData });
  const mod = new Module(bundle, module);
  mod.filename = bundle;
  script.runInThisContext()(mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
  if (cachedData === undefined || script.cachedDataRejected) {
    try {
      mkdirSync(cacheDir, { recursive: true });
      const temp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(temp, script.createCachedData());
      renameSync(temp, cacheFile);
    } catch {
      // a read-only home: run without a cache
    }
  }
}

if (existsSync(bundle)) {
  runBundle();
} else {
  import('../dist/cli/main.js').then(({ main }) => main(process.argv)).then((code) => { process.exitCode = code; });
}
