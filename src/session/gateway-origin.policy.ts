import type { IncomingMessage } from 'node:http';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';

/**
 * Origins whose pages may open a WebSocket to the app besides the app's own: serialised origins
 * (`https://app.example.com`), or a function that decides for an origin that is not the request's own.
 */
export type AllowedOrigins = readonly string[] | ((origin: string, req: IncomingMessage) => boolean);

/**
 * The check against cross-site WebSocket hijacking: a browser sends the cookies of the app with a
 * WebSocket handshake that any page opens (no CORS preflight, no SameSite protection for a
 * same-site attacker), and names that page's origin in `Origin`. A handshake passes when it has no
 * `Origin` (not a browser: such a client can send any header anyway), when `Origin` names the
 * request's own host (`Host`), or when it is allowed by `allowedOrigins`. `Origin: null` (sandboxed
 * frames, `file:` pages) and anything unparsable are refused.
 * @internal
 */
export class GatewayOriginPolicy {
  private readonly listed: ReadonlySet<string>;
  private readonly decide: ((origin: string, req: IncomingMessage) => boolean) | undefined;

  constructor(allowed: AllowedOrigins | undefined) {
    if (typeof allowed === 'function') {
      this.listed = new Set();
      this.decide = allowed;
      return;
    }
    if (allowed !== undefined && !Array.isArray(allowed)) {
      throw new SessionError(
        'SESSION_OPTIONS_INVALID',
        SessionMessages.invalidOption(
          'allowedOrigins',
          'it must be an array of origins or a function',
          "Give e.g. ['https://app.example.com'].",
        ),
      );
    }
    const listed = new Set<string>();
    for (const [index, origin] of (allowed ?? []).entries()) {
      const normalised = normaliseOrigin(origin);
      if (normalised === undefined) {
        throw new SessionError(
          'SESSION_OPTIONS_INVALID',
          SessionMessages.invalidOption(
            `allowedOrigins[${index}]`,
            'it is not an http(s) origin',
            "Give the scheme, host and port only, e.g. 'https://app.example.com'.",
          ),
        );
      }
      listed.add(normalised);
    }
    this.listed = listed;
    this.decide = undefined;
  }

  /** Whether the handshake `req` may open a socket. */
  allows(req: IncomingMessage): boolean {
    const header: string | string[] | undefined = req.headers.origin;
    const origin = typeof header === 'string' ? header : header?.[0];
    if (origin === undefined) return true;
    const normalised = normaliseOrigin(origin);
    if (normalised === undefined) return false;
    if (sameHost(normalised, req.headers.host) || this.listed.has(normalised)) return true;
    return this.decide !== undefined && this.decide(normalised, req) === true;
  }
}

/** `origin` as browsers serialise it (lower case, no default port), or `undefined` when it is no http(s) origin. */
function normaliseOrigin(origin: unknown): string | undefined {
  if (typeof origin !== 'string' || !/^https?:\/\/[^/?#\\@]+$/i.test(origin) || !URL.canParse(origin)) return undefined;
  return new URL(origin).origin;
}

function sameHost(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  const url = new URL(origin);
  const authority = host.toLowerCase();
  if (url.host === authority) return true;
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  return url.port === '' && `${url.hostname}:${defaultPort}` === authority;
}
