import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

const root = new URL('../../', import.meta.url).pathname;
const built = `${root}dist/cli/main.js`;

/**
 * node's argv to run the CLI as a real process: the single-file build named by IMGPACK_BIN
 * (npm run test:dist), else the build when there is one, else the sources via tsx.
 */
export function cliArgv(...args: string[]): string[] {
  if (process.env.IMGPACK_BIN) return [process.env.IMGPACK_BIN, ...args];
  return existsSync(built) ? [`${root}bin/imgpack.cjs`, ...args] : ['--import', 'tsx', `${root}test/e2e/bin-src.ts`, ...args];
}

export function runProcess(args: string[], env: Record<string, string> = {}, input?: Buffer) {
  const r = spawnSync(process.execPath, cliArgv(...args), { env: { ...process.env, ...env }, input, maxBuffer: 1 << 28, cwd: root });
  return { code: r.status, signal: r.signal, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function startProcess(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, cliArgv(...args), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}
