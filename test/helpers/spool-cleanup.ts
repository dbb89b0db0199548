/**
 * setupFiles of `npm test`: the in-process CLI runs of a test file spool under one directory of
 * the worker process, which Node removes at exit; vitest's workers may end without that exit
 * step, so each test file removes it when it is done (test/helpers/tmp-guard.ts checks).
 */
import { afterAll } from 'vitest';
import { removeSpoolDir } from '../../src/io/temp.js';

afterAll(() => removeSpoolDir());
