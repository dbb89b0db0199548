import type { ChildProcess } from 'node:child_process';
import { exited, startProcess } from './spawn.js';

export interface ServeProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:PORT` as serve printed it. */
  url: string;
  /** `127.0.0.1:PORT` */
  address: string;
  /** Everything serve wrote on stderr so far (its --log lines). */
  stderr(): string;
  /** Waits (at most 20 s) until stderr matches; returns stderr either way. */
  waitForLog(pattern: RegExp): Promise<string>;
  /** SIGTERM, then the exit status. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `imgpack GLOBAL_ARGS serve --listen 127.0.0.1:0 --log SERVE_ARGS` as a process, once it has printed its address. It is
 * killed after `lifetimeMs` whatever happens; callers stop it in afterAll.
 */
export async function startServeProcess(globalArgs: string[], serveArgs: string[] = [], { lifetimeMs = 600_000, env = {} as Record<string, string> } = {}): Promise<ServeProcess> {
  const child = startProcess([...globalArgs, 'serve', '--listen', '127.0.0.1:0', '--log', ...serveArgs], env);
  const killer = setTimeout(() => child.kill('SIGKILL'), lifetimeMs);
  killer.unref();
  child.once('exit', () => clearTimeout(killer));
  let text = '';
  child.stderr!.on('data', (d: Buffer) => { text += d.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /Serving store .* on (https?:\/\/[^\s]+)/.exec(text);
      if (m) {
        child.stderr!.off('data', onData);
        resolve(m[1]);
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`imgpack serve exited (${code}) before serving: ${text}`)));
    setTimeout(() => reject(new Error(`imgpack serve did not start within 30 s: ${text}`)), 30_000).unref();
  });
  return {
    child,
    url,
    address: url.replace(/^https?:\/\//, ''),
    stderr: () => text,
    waitForLog: (pattern) => new Promise<string>((resolve) => {
      if (pattern.test(text)) return resolve(text);
      const timer = setTimeout(done, 20_000);
      function done() {
        clearTimeout(timer);
        child.stderr!.off('data', check);
        resolve(text);
      }
      function check() {
        if (pattern.test(text)) done();
      }
      child.stderr!.on('data', check);
    }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited(child);
    },
  };
}
