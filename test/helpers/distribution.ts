/**
 * Real distribution registries (Debian's docker-registry 2.8) that a test starts itself, on a
 * free loopback port: plain HTTP, TLS with a CA made by openssl, htpasswd Basic auth, or token
 * auth with a small token issuer that follows the Docker token spec (RS256 JWTs whose `kid` is
 * the libtrust key ID of the signing key, as distribution looks keys up).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { makeCertificates } from './fake-registry.js';

export interface Distribution {
  host: string;
  /** For TLS set-ups: the CA that signed the registry's certificate. */
  ca?: string;
  stop(): Promise<void>;
}

export interface DistributionOptions {
  tls?: boolean;
  /** user:password for htpasswd Basic auth. */
  htpasswd?: string;
  /** user:password accepted by the token issuer. */
  token?: string;
}

export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startDistribution(dir: string, opts: DistributionOptions = {}): Promise<Distribution> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    'version: 0.1',
    'log: {level: warn, accesslog: {disabled: true}}',
    `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}, delete: {enabled: true}}`,
    'http:',
    `  addr: ${host}`,
  ];
  let ca: string | undefined;
  if (opts.tls) {
    const certs = makeCertificates(dir);
    ca = certs.ca;
    lines.push(`  tls: {certificate: ${certs.cert}, key: ${certs.key}}`);
  }
  let issuer: Server | undefined;
  if (opts.htpasswd) {
    const [user, password] = opts.htpasswd.split(':');
    writeFileSync(join(dir, 'htpasswd'), `${user}:${bcrypt(password)}\n`);
    lines.push(`auth: {htpasswd: {realm: imgpack-test, path: ${join(dir, 'htpasswd')}}}`);
  } else if (opts.token) {
    const t = await startTokenIssuer(dir, opts.token);
    issuer = t.server;
    lines.push(`auth: {token: {realm: "http://${t.host}/token", service: imgpack-test, issuer: imgpack-test-issuer, rootcertbundle: ${t.cert}}}`);
  }
  lines.push('health: {storagedriver: {enabled: false}}');
  writeFileSync(join(dir, 'config.yml'), lines.join('\n') + '\n');
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => { log += c.toString(); });
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise<void>((r) => { if (child.exitCode !== null) r(); else child.once('exit', () => r()); });
    if (issuer) await new Promise<void>((r) => issuer!.close(() => r()));
  };
  for (let i = 0; i < 80; i++) {
    if (child.exitCode !== null) break;
    const up = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { timeout: 2000 }).status === 0;
    if (up) return { host, ca, stop };
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`docker-registry did not start: ${log.slice(-500)}`);
}

/** bcrypt, which distribution's htpasswd requires, from Python's crypt (glibc's libxcrypt); cost 4, as the registry checks it on every request. */
function bcrypt(password: string): string {
  const r = spawnSync('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))', password], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0 || !r.stdout.startsWith('$2')) throw new Error(`cannot make a bcrypt hash: ${r.stderr}`);
  return r.stdout.trim();
}

/** A Docker-token-spec issuer: GET /token with Basic credentials gives a JWT for the asked scopes. */
async function startTokenIssuer(dir: string, credentials: string): Promise<{ server: Server; host: string; cert: string }> {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.crt', '-days', '2', '-subj', '/CN=imgpack token issuer'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  const key = createPrivateKey(readFileSync(join(dir, 'token.key')));
  const kid = libtrustKeyId(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  const expected = `Basic ${Buffer.from(credentials).toString('base64')}`;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') return void res.writeHead(404).end();
    if (req.headers.authorization !== expected) return void res.writeHead(401).end('{"details":"bad credentials"}');
    const access = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: actions.split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${b64({ typ: 'JWT', alg: 'RS256', kid })}.${b64({ iss: 'imgpack-test-issuer', sub: credentials.split(':')[0], aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access })}`;
    const token = `${unsigned}.${sign('sha256', Buffer.from(unsigned), key).toString('base64url')}`;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  return { server, host: `127.0.0.1:${(server.address() as { port: number }).port}`, cert: join(dir, 'token.crt') };
}

/** libtrust's key ID: sha256 of the DER public key, first 240 bits, base32, in groups of 4. */
function libtrustKeyId(spki: Buffer): string {
  const bytes = createHash('sha256').update(spki).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  return out.match(/.{4}/g)!.join(':');
}
