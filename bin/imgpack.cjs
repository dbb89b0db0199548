#!/usr/bin/env node
// The `imgpack` command. `npm run build` makes dist/cli/ (the compiled modules, also the library)
// and dist/imgpack.cjs (the same CLI as one CommonJS file, which keeps V8's code cache of itself).
// The command runs the one file: Node 20 loads the ~35 ES modules of dist/cli/ one by one, with
// no compile cache, which makes start-up half as slow again. Without the bundle (tsc alone), it
// runs dist/cli/main.js.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const bundle = join(__dirname, '..', 'dist', 'imgpack.cjs');
if (existsSync(bundle)) {
  require(bundle);
} else {
  import('../dist/cli/main.js').then(({ run }) => run(process.argv));
}
