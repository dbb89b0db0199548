// Runs the CLI from source (for tests that need a real process, e.g. standard input).
import { run } from '../../src/cli/main.js';

void run(process.argv);
