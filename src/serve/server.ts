/**
 * `imgpack serve` as a library: an OCI distribution registry over the local store, on node:http
 * or node:https. Prints nothing: request lines go to `log`, when given.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { usage } from '../errors.js';
import { Store } from '../formats/store/store.js';
import { DeleteHandlers } from './delete.js';
import { Holds } from './holds.js';
import { PushHandlers } from './push.js';
import { createRouter } from './router.js';
import { StoreView } from './store-view.js';

export interface ServeOptions {
  /** The store directory (created on first use). */
  store: string;
  /** host:port, [v6]:port, :port or port; port 0 picks a free one. Default 127.0.0.1:5000. */
  listen?: string;
  tls?: { cert: string; key: string };
  readOnly?: boolean;
  /** One line per request, when given. */
  log?: (line: string) => void;
  /** Unfinished uploads and unreferenced pushed blobs are let go after this long idle (1 h). */
  uploadTtlMs?: number;
}

export interface RunningServer {
  /** `http://127.0.0.1:5000` with the real port. */
  url: string;
  /** `127.0.0.1:5000` with the real port. */
  address: string;
  port: number;
  store: Store;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(listen) ?? (/^\d+$/.test(listen) ? [listen, undefined, '', listen] : null);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) throw usage('bad-listen', '--listen takes HOST:PORT, e.g. 127.0.0.1:5000 (port 0 picks a free one)', listen);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function readTlsFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw usage('bad-tls', `cannot read the TLS ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, path);
  }
}

export async function startServe(opts: ServeOptions): Promise<RunningServer> {
  const { host, port } = parseListen(opts.listen ?? '127.0.0.1:5000');
  const store = Store.open(opts.store);
  const view = new StoreView(store);
  const ttl = opts.uploadTtlMs ?? 3600_000;
  const holds = new Holds(store, ttl);
  const tls = !!opts.tls;
  const push = opts.readOnly ? undefined : new PushHandlers(view, holds, { tls, uploadTtlMs: ttl });
  const remove = opts.readOnly ? undefined : new DeleteHandlers(view, holds);
  const router = createRouter({ view, push, remove, onError: (e, req) => opts.log?.(`error: ${req.method} ${req.url}: ${(e as Error)?.stack ?? String(e)}`) });

  let server: Server;
  if (opts.tls) {
    const cert = readTlsFile(opts.tls.cert, 'certificate');
    const key = readTlsFile(opts.tls.key, 'key');
    try {
      server = createHttpsServer({ cert, key }, (req, res) => void router(req, res));
    } catch (e) {
      throw usage('bad-tls', `the TLS certificate and key do not work: ${(e as Error).message.split('\n')[0]}`, `${opts.tls.cert}, ${opts.tls.key}`);
    }
  } else {
    server = createHttpServer((req, res) => void router(req, res));
  }
  // Large blobs over slow links: no overall request deadline, only on headers.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  if (opts.log) {
    const log = opts.log;
    server.on('request', (req, res) => {
      res.on('close', () => {
        const len = res.getHeader('content-length');
        log(`${req.socket.remoteAddress ?? '-'} "${req.method} ${req.url}" ${res.statusCode} ${len ?? '-'}${res.writableFinished ? '' : ' (interrupted)'} "${req.headers['user-agent'] ?? ''}" accept="${req.headers.accept ?? ''}"`);
      });
    });
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      if (e.code === 'EADDRINUSE') reject(usage('address-in-use', 'address already in use', where));
      else if (e.code === 'EACCES') reject(usage('eacces', 'permission denied to listen on the address', where));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(usage('bad-listen', 'cannot listen on this address (not one of this host\'s)', where));
      else reject(usage('listen', `cannot listen: ${e.message}`, where));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  const sweeper = setInterval(() => {
    push?.sweep();
    holds.sweep();
  }, Math.min(ttl, 60_000));
  sweeper.unref();

  let closed: Promise<void> | undefined;
  return {
    url: `${tls ? 'https' : 'http'}://${shown}`,
    address: shown,
    port: addr.port,
    store,
    close() {
      closed ??= new Promise<void>((resolve) => {
        clearInterval(sweeper);
        server.close(() => resolve());
        server.closeAllConnections();
      }).finally(() => {
        push?.abortAll();
        holds.releaseAll();
      });
      return closed;
    },
  };
}
