import 'reflect-metadata';
import { All, Controller, Module, Req, Res, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fromExpressSessionOptions,
  SessionModule,
  SessionSigner,
  type ConnectCallback,
  type ExpressSessionOptions,
  type SessionModuleOptions,
} from '../../src/index.js';

/**
 * The harness of `express-session-contract.e2e.spec.ts`: a real Nest Express app configured only
 * through `fromExpressSessionOptions(options)`, whose every path runs a raw `(req, res)` handler
 * written as an express-session user writes it, driven over real HTTP on loopback.
 */

/** express-session's test default secret, which our tests keep so options read the same. */
export const SECRET = 'keyboard cat';
export const MINUTE = 60_000;
export const COOKIE = 'connect.sid';

/** The request as an express-session handler sees it (untyped session, as plain JavaScript code has it). */
export type ContractRequest = IncomingMessage & {
  session?: any;
  sessionID?: unknown;
  originalUrl?: string;
  secure?: boolean;
  cookies?: Record<string, string>;
  signedCookies?: Record<string, string | false>;
};
export type Handler = (req: ContractRequest, res: ServerResponse) => void;

export interface ServeExtras {
  /** Runs before the session middleware (an `app.use()` middleware, mounted before the app inits). */
  setup?: Handler;
  /** The module's `onError`, to see what our library reports (spread over the mapped options). */
  onError?: SessionModuleOptions['onError'];
  /** Serve HTTPS with this key and certificate. */
  tls?: { key: string; cert: string };
}

export interface Served {
  url: string;
  port: number;
  tls: boolean;
  /** One request; `cookie` is sent as the Cookie header. */
  request(path?: string, init?: RequestInit): Promise<Reply>;
}

export interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  /** A Cookie header value, or a reply whose session cookie is sent back. */
  cookie?: string | Reply;
  /** The cookie name to send back from a reply. */
  name?: string;
}

/** What came back: status, headers, body and Set-Cookie lines, parsed. */
export class Reply {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly text: string,
  ) {}

  get setCookies(): string[] {
    return this.headers['set-cookie'] ?? [];
  }

  /** The parsed Set-Cookie of `name`, if the response set one. */
  cookie(name = COOKIE): ParsedCookie | undefined {
    return this.setCookies.map(parseSetCookie).find((cookie) => cookie.name === name);
  }

  /** `name=value` of the cookie `name` set, to send back. */
  cookiePair(name = COOKIE): string {
    const cookie = this.cookie(name);
    if (cookie === undefined) throw new Error(`the response set no ${name} cookie`);
    return `${cookie.name}=${cookie.value}`;
  }
}

export interface ParsedCookie {
  name: string;
  value: string;
  /** Attributes by lower-case name; flags are `true`. */
  attributes: Record<string, string | true>;
}

/** A Set-Cookie line as name, value and attributes. */
export function parseSetCookie(line: string): ParsedCookie {
  const [pair, ...rest] = line.split(';');
  const eq = pair.indexOf('=');
  const attributes: Record<string, string | true> = {};
  for (const part of rest) {
    const at = part.indexOf('=');
    if (at === -1) attributes[part.trim().toLowerCase()] = true;
    else attributes[part.slice(0, at).trim().toLowerCase()] = part.slice(at + 1).trim();
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes };
}

/** The session ID our cookie in `reply` names, verified with our own signer (our format is not express-session's). */
export function sessionIdOf(reply: Reply, { secret = SECRET, name = COOKIE }: { secret?: string | string[]; name?: string } = {}): string {
  const cookie = reply.cookie(name);
  if (cookie === undefined) throw new Error(`the response set no ${name} cookie`);
  const id = new SessionSigner(Array.isArray(secret) ? secret : [secret]).unsign(cookie.value);
  if (id === undefined) throw new Error(`the ${name} cookie does not verify`);
  return id;
}

const apps: INestApplication[] = [];

/** Close every app started since the last call (for afterEach). */
export async function closeAll(): Promise<void> {
  for (const app of apps.splice(0).reverse()) await app.close();
}

/** express-session's test defaults: `secret: 'keyboard cat'` and `cookie: { maxAge: 60_000 }`, unless given (even as undefined). */
export function withDefaults(options?: Partial<ExpressSessionOptions> | null): ExpressSessionOptions {
  const given: Record<string, unknown> = { ...options };
  if (!('cookie' in given)) given.cookie = { maxAge: MINUTE };
  if (!('secret' in given)) given.secret = SECRET;
  return given as unknown as ExpressSessionOptions;
}

/**
 * Start a Nest Express app with `SessionModule.forRoot(fromExpressSessionOptions(options))` whose
 * every path runs `handler` (by default: end the response), with `extras.setup` mounted before
 * the session middleware (`app.use()` before init; `SessionModule` mounts its own during init).
 */
export async function serve(options?: Partial<ExpressSessionOptions> | null, handler?: Handler, extras: ServeExtras = {}): Promise<Served> {
  const respond: Handler = handler ?? ((_req, res) => res.end());
  const mapped = fromExpressSessionOptions(withDefaults(options));

  @Controller()
  class CatchAllController {
    @All('{*path}')
    handle(@Req() req: ContractRequest, @Res() res: ServerResponse): void {
      try {
        respond(req, res);
      } catch (error) {
        // Shown to the test (a handler of ours never throws on purpose), rather than Nest's generic 500.
        if (res.headersSent) throw error;
        res.statusCode = 500;
        res.end(`handler threw: ${(error as Error).stack ?? String(error)}`);
      }
    }
  }

  const moduleOptions: SessionModuleOptions = extras.onError ? { ...mapped, onError: extras.onError } : mapped;
  @Module({ imports: [SessionModule.forRoot(moduleOptions)], controllers: [CatchAllController] })
  class ContractApp {}

  const app = await NestFactory.create<NestExpressApplication>(ContractApp, {
    logger: false,
    ...(extras.tls ? { httpsOptions: extras.tls } : {}),
  });
  apps.push(app);
  const setup = extras.setup;
  if (setup) {
    app.use((req: ContractRequest, res: ServerResponse, next: () => void) => {
      setup(req, res);
      next();
    });
  }
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const tls = extras.tls !== undefined;
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return { url, port, tls, request: (path = '/', init = {}) => send(port, path, init, extras.tls?.cert) };
}

/**
 * One request over node:http (or node:https trusting `ca`). Not fetch: express-session's suite sets
 * the Host header and talks to a server with a self-signed certificate, neither of which fetch does.
 */
export function send(port: number, path: string, init: RequestInit = {}, ca?: string): Promise<Reply> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.cookie !== undefined) headers.cookie = typeof init.cookie === 'string' ? init.cookie : init.cookie.cookiePair(init.name);
  const options = { host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers, agent: false as const };
  return new Promise<Reply>((resolve, reject) => {
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(new Reply(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8'))));
      res.on('error', reject);
    };
    const req =
      ca === undefined ? http.request(options, onResponse) : https.request({ ...options, ca, servername: 'localhost' }, onResponse);
    req.setTimeout(5000, () => req.destroy(new Error(`no answer to ${init.method ?? 'GET'} ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

let certificate: { key: string; cert: string } | undefined;

/** A self-signed certificate for localhost and 127.0.0.1, made once per run with openssl. */
export function selfSignedCertificate(): { key: string; cert: string } {
  if (certificate) return certificate;
  const dir = mkdtempSync(join(tmpdir(), 'contract-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    certificate = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    return certificate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The callback-style store methods the tests call, as promises. */
export interface CallbackStore {
  get(sid: string, cb: ConnectCallback<any>): unknown;
  set(sid: string, session: any, cb: ConnectCallback): unknown;
  destroy(sid: string, cb: ConnectCallback): unknown;
  length?(cb: ConnectCallback<number>): unknown;
  all?(cb: ConnectCallback<any>): unknown;
  clear?(cb: ConnectCallback): unknown;
}

const promised = <T>(call: (cb: ConnectCallback<T>) => unknown): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    call((err, result) => (err ? reject(err as Error) : resolve(result as T)));
  });

export const storeGet = (store: CallbackStore, sid: string): Promise<any> => promised((cb) => store.get(sid, cb));
export const storeSet = (store: CallbackStore, sid: string, session: unknown): Promise<unknown> =>
  promised((cb) => store.set(sid, session, cb));
export const storeLength = (store: CallbackStore): Promise<number> => promised((cb) => store.length!(cb));
export const storeAll = (store: CallbackStore): Promise<Record<string, unknown>> => promised((cb) => store.all!(cb));
export const storeClear = (store: CallbackStore): Promise<unknown> => promised((cb) => store.clear!(cb));

/**
 * Count the calls of `method` on `store` from now on (the instance's method is replaced, and the
 * adapter calls it through the instance). With `delay`, each call reaches the store that much later,
 * so a response that did not wait for the write arrives before the record exists.
 */
export function countCalls(store: object, method: 'get' | 'set' | 'destroy' | 'touch', delay = 0): { count: number } {
  const counter = { count: 0 };
  const target = store as Record<string, (...args: unknown[]) => unknown>;
  const original = target[method];
  target[method] = function counted(this: unknown, ...args: unknown[]) {
    counter.count++;
    if (delay === 0) return original?.apply(this, args);
    setTimeout(() => original?.apply(this, args), delay);
    return undefined;
  };
  return counter;
}

/** Make every call of `method` on `store` answer with `error`. */
export function failCalls(store: object, method: 'get' | 'set' | 'destroy' | 'touch', error: Error): void {
  (store as Record<string, unknown>)[method] = (...args: unknown[]) => {
    const cb = args[args.length - 1] as ConnectCallback;
    cb(error);
  };
}

/**
 * A connect store that answers every call synchronously, inside the call, and keeps sessions as
 * JSON (our equivalent of express-session's test SyncStore).
 */
export class SynchronousStore extends EventEmitter {
  readonly sessions = new Map<string, string>();

  get(sid: string, cb: ConnectCallback<unknown>): void {
    const text = this.sessions.get(sid);
    cb(null, text === undefined ? null : JSON.parse(text));
  }

  set(sid: string, session: unknown, cb: ConnectCallback): void {
    this.sessions.set(sid, JSON.stringify(session));
    cb(null);
  }

  destroy(sid: string, cb: ConnectCallback): void {
    this.sessions.delete(sid);
    cb(null);
  }
}

/**
 * A connect store that answers on a later turn, keeps sessions as JSON text, revives
 * `cookie.expires` as a Date and drops a session whose expiry has passed when it is read (our
 * equivalent of express-session's test SmartStore).
 */
export class RevivingStore extends EventEmitter {
  readonly sessions = new Map<string, string>();

  get(sid: string, cb: ConnectCallback<unknown>): void {
    const text = this.sessions.get(sid);
    let session: { cookie?: { expires?: unknown } } | null = text === undefined ? null : JSON.parse(text);
    if (session?.cookie && typeof session.cookie.expires === 'string') {
      session.cookie.expires = new Date(session.cookie.expires);
      if ((session.cookie.expires as Date).getTime() <= Date.now()) {
        this.sessions.delete(sid);
        session = null;
      }
    }
    setImmediate(cb, null, session);
  }

  set(sid: string, session: unknown, cb: ConnectCallback): void {
    this.sessions.set(sid, JSON.stringify(session));
    setImmediate(cb, null);
  }

  destroy(sid: string, cb: ConnectCallback): void {
    this.sessions.delete(sid);
    setImmediate(cb, null);
  }
}

/**
 * Our stand-in for cookie-parser (not installed here): parse the Cookie header into `req.cookies`;
 * with a secret, values in cookie-parser's signed form (`s:<value>.<signature>`) that verify go to
 * `req.signedCookies` instead.
 */
export function parseCookies(secret?: string): Handler {
  return (req) => {
    const cookies: Record<string, string> = {};
    const signed: Record<string, string | false> = {};
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq === -1) continue;
      const name = part.slice(0, eq).trim();
      const value = decodeURIComponent(part.slice(eq + 1).trim());
      if (secret !== undefined && value.startsWith('s:')) signed[name] = unsignCookieParser(value.slice(2), secret);
      else cookies[name] = value;
    }
    req.cookies = cookies;
    req.signedCookies = signed;
  };
}

function unsignCookieParser(value: string, secret: string): string | false {
  const dot = value.lastIndexOf('.');
  if (dot === -1) return false;
  const unsigned = value.slice(0, dot);
  const expected = createHmac('sha256', secret).update(unsigned).digest('base64').replace(/=+$/, '');
  return value.slice(dot + 1) === expected ? unsigned : false;
}

/** Make `res.write()` after `res.end()` throw, as a middleware that wraps the response might. */
export function guardWriteAfterEnd(res: ServerResponse): void {
  const end = res.end;
  const write = res.write;
  let ended = false;
  res.end = function guardedEnd(this: ServerResponse, ...args: unknown[]) {
    ended = true;
    return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['end'];
  res.write = function guardedWrite(this: ServerResponse, ...args: unknown[]) {
    if (ended) throw new Error('write after end');
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as ServerResponse['write'];
}

/** Set `req.secure` as a proxy-aware middleware would (Express defines it as a getter, so it is redefined). */
export function defineSecure(req: ContractRequest, value: boolean | undefined): void {
  Object.defineProperty(req, 'secure', { value, configurable: true, writable: true, enumerable: true });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Wait until the clock is `offset` ms into the next second, so dates with second precision differ. */
export const nextSecond = (offset = 100): Promise<void> => sleep(1000 - (Date.now() % 1000) + offset);
