/** Small helpers over node:http shared by the handlers. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from './errors.js';

export type Req = IncomingMessage;
export type Res = ServerResponse;

export function send(res: Res, status: number, headers: Record<string, string | number> = {}, body?: Buffer | string): void {
  const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (!res.hasHeader('content-length')) res.setHeader('Content-Length', data?.length ?? 0);
  res.end(data);
}

export function sendJson(res: Res, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
}

export function sendError(res: Res, e: RegistryError): void {
  send(res, e.status, { 'Content-Type': 'application/json', ...e.headers }, e.body());
}

/** Reads a request body up to `limit` bytes; more is a RegistryError made by `tooBig`. */
export async function readBody(req: Req, limit: number, tooBig: () => RegistryError): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw tooBig();
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Drains and ignores a request body (e.g. a POST that starts an upload). */
export async function drain(req: Req): Promise<void> {
  for await (const _ of req) {
    // discard
  }
}

/** The absolute URL of a path on this server, from the Host the client used. */
export function absolute(req: Req, path: string, tls: boolean): string {
  const host = req.headers.host;
  return host ? `${tls ? 'https' : 'http'}://${host}${path}` : path;
}
