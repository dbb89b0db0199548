// Runs the CLI from source (for tests that need a real process, e.g. standard input).
import { main } from '../../src/cli/main.js';

main(process.argv).then((code) => { process.exitCode = code; });
