// The entry of the single-file bundle and executable (npm run build:bundle, build:sea): the
// command, as bin/imgpack.cjs runs it from dist/.
import { main } from './main.js';

main(process.argv).then((code) => { process.exitCode = code; });
