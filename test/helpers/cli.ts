import { spawn } from 'node:child_process';
import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = any>(): T;
}

/**
 * Runs the CLI in-process with captured output (the same code path as bin/imgpack.cjs); when
 * IMGPACK_BIN names a single-file build (npm run test:dist), runs that with node instead.
 */
export async function runCli(...args: string[]): Promise<CliResult> {
  if (process.env.IMGPACK_BIN) return runBin(process.env.IMGPACK_BIN, args);
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'imgpack', ...args], {
    out: (t) => { stdout += t.endsWith('\n') ? t : t + '\n'; },
    err: (t) => { stderr += t.endsWith('\n') ? t : t + '\n'; },
    quiet: false,
  });
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}

/** Asynchronously, so that servers in the test process (a fake registry) keep answering. */
function runBin(bin: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString();
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: Buffer.concat(err).toString(), json: () => JSON.parse(stdout) });
    });
  });
}
