import type { IncomingMessage } from 'node:http';

/**
 * The client's IP address as `trustProxy` has the app trust its proxies: the socket's peer
 * without it, the first (client-most) address of `X-Forwarded-For` with `true`, and Express's own
 * `req.ip` (its `trust proxy` setting) with `'express'`. `undefined` when none is known.
 * @internal
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean | 'express'): string | undefined {
  if (trustProxy === 'express') {
    const ip = (req as { ip?: unknown }).ip;
    if (typeof ip === 'string' && ip !== '') return ip;
  } else if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    // At most an IPv6 address's length: the header is the client's to write.
    if (first !== undefined && first !== '' && first.length <= 45) return first;
  }
  return req.socket?.remoteAddress ?? undefined;
}
