#!/usr/bin/env node
// The `imgpack` command: a shim that loads the compiled CLI (npm run build makes dist/).
import { main } from '../dist/cli/main.js';

main(process.argv).then((code) => { process.exitCode = code; });
