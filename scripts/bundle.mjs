#!/usr/bin/env node
/**
 * `npm run build:bundle`: imgpack as ONE JavaScript file, dist/imgpack.cjs, with every dependency
 * inside, which runs with `node imgpack.cjs ...` on Node >= 20 with no node_modules beside it.
 * The xz decoder's WebAssembly is already inlined by xz-decompress (a base64 data: URL); the hash
 * workers evaluate their own source (io/hash-pool.ts), so no other file is needed.
 * CommonJS rather than an ES module: Node's own modules are then required when first used rather
 * than all at start-up, there is no ES module loader to start (--version: 1.15x `node -e 0`
 * instead of 1.4x), and Node 20 runs a single executable's script only as CommonJS, so the bundle
 * and the executable (scripts/sea.mjs) are the same code.
 *   node scripts/bundle.mjs [--outfile F] [--plain]
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('..', import.meta.url).pathname;
// --plain: the program alone, without the code-cache loader (the executable has V8's cache inside).
const { values } = parseArgs({ options: { outfile: { type: 'string' }, plain: { type: 'boolean' } } });
const outfile = values.outfile ?? `${root}dist/imgpack.cjs`;
const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));

// The codec workers' program (src/io/codec-worker.ts) is bundled on its own and carried inside the
// main program as a string (gzip, base64): the workers evaluate it, so no second file is needed.
// The zstd encoder's WebAssembly is carried once, by the main program, which hands it to each
// worker. (Emscripten's glue names its .wasm for the browser: given the bytes, it reads no file.)
const wasmLoader = { '.wasm': 'empty' };
const worker = await build({
  entryPoints: [`${root}src/io/codec-worker.ts`],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  define: { 'import.meta.url': 'undefined' },
  loader: wasmLoader,
  legalComments: 'none', // the main program's end carries every licence
  logLevel: 'warning',
  write: false,
});
const workerSource = gzipSync(worker.outputFiles[0].contents, { level: 9 }).toString('base64');
const zstdWasm = gzipSync(readFileSync(`${root}node_modules/@foxglove/wasm-zstd/dist/wasm-zstd.wasm`), { level: 9 }).toString('base64');

const result = await build({
  entryPoints: [`${root}src/cli/run.ts`],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  define: {
    IMGPACK_BUNDLE: JSON.stringify(version), // self-copy: "this file is imgpack"
    // Only self-copy and the worker and WebAssembly loaders read import.meta.url, and only when
    // not bundled (CommonJS has no import.meta).
    'import.meta.url': 'undefined',
    IMGPACK_WORKER_SOURCE: JSON.stringify(workerSource),
    IMGPACK_ZSTD_WASM: JSON.stringify(zstdWasm),
  },
  loader: wasmLoader,
  legalComments: 'eof',
  logLevel: 'warning',
  metafile: true,
  write: false,
});
const program = result.outputFiles[0].text;
const banner = `#!/usr/bin/env node\n// imgpack ${version}: the single-file build (npm run build:bundle). Runs with Node >= 20 alone.\n`;
const key = createHash('sha256').update(program).digest('hex').slice(0, 16);
const loader = readFileSync(`${root}scripts/bundle-loader.cjs`, 'utf8');
const text = values.plain ? program : loader.replace('__IMGPACK_SOURCE__', () => JSON.stringify(program)).replace('__IMGPACK_KEY__', () => JSON.stringify(key));
mkdirSync(dirname(outfile), { recursive: true });
writeFileSync(outfile, banner + text);
chmodSync(outfile, 0o755);
const inputs = Object.keys(result.metafile.inputs);
const packages = new Set(inputs.filter((i) => i.includes('node_modules/')).map((i) => i.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, '$1')));
console.log(`${outfile.replace(root, '')}: ${(statSync(outfile).size / 1024).toFixed(0)} KiB, ${inputs.length} modules from imgpack and ${[...packages].sort().join(', ')}`);
