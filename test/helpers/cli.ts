import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = any>(): T;
}

/** Runs the CLI in-process with captured output (the same code path as bin/imgpack.js). */
export async function runCli(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'imgpack', ...args], {
    out: (t) => { stdout += t.endsWith('\n') ? t : t + '\n'; },
    err: (t) => { stderr += t.endsWith('\n') ? t : t + '\n'; },
    quiet: false,
  });
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}
