// The entry of the single-file bundle and executable (npm run build:bundle, build:sea): the
// command, as bin/imgpack.cjs runs it from dist/.
import { run } from './main.js';

void run(process.argv);
