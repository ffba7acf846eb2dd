import type { IncomingMessage } from 'node:http';
import type { SessionIdTransport, SessionIdWriteContext } from '../session-options.interface.js';

/**
 * The signed ID in a request header, answered in the same response header when a session is
 * created, regenerated or destroyed (empty value). For API and mobile clients without cookies.
 *
 * @example
 * ```ts
 * SessionModule.forRoot({ secret, transport: ['cookie', 'header'] }) // browsers and apps
 * ```
 */
export class HeaderTransport implements SessionIdTransport {
  protected readonly header: string;

  /** @param headerName header name, case-insensitive. @default 'X-Session-Id' */
  constructor(headerName = 'X-Session-Id') {
    this.header = headerName.toLowerCase();
  }

  read(req: IncomingMessage): string | undefined {
    const value = req.headers[this.header];
    const first = Array.isArray(value) ? value[0] : value;
    return first ? first.trim() : undefined;
  }

  write({ res, value }: SessionIdWriteContext): void {
    res.setHeader(this.header, value ?? '');
  }
}
