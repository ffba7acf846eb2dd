import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * What the engine asks the response hook to call back. The engine's per-request binding
 * implements it, so hooking a response makes no closures.
 * @internal
 */
export interface ResponseListener {
  /** The seam's own state for this response, set by {@link SessionHttpSeam.hookResponse}. */
  hook: ResponseHookState | undefined;
  /**
   * Runs synchronously as the headers go out, once. `headers` are those given to `writeHead()`
   * (Set-Cookie values added to the response must be merged into them, see {@link mergeSetCookie}).
   */
  beforeHeaders(headers: OutgoingHttpHeaders | undefined): void;
  /** Whether the end of the response must wait for work (checked synchronously, so most responses end at once). */
  mustWaitBeforeEnd(): boolean;
  /**
   * The handler ended the response and there is work to finish first: call `end.proceed()` to end
   * it as the handler asked, or `end.replace(body)` to end it with another body (an error answer).
   */
  beforeEnd(end: ResponseEnd): void;
}

/** How the engine finishes a response whose end it held back. @internal */
export interface ResponseEnd {
  readonly res: ServerResponse;
  /** End the response with the handler's own arguments. */
  proceed(): void;
  /** End the response with `body` instead (the status and headers are the caller's to set, after {@link ResponseEnd.release}). */
  replace(body: string): void;
  /**
   * Let the engine change the response's status and headers again before {@link ResponseEnd.replace}:
   * while an end is held for asynchronous work, the response refuses them as an ended one does
   * (see `refuseAfterEnd`). The end itself stays held.
   */
  release(): void;
}

/** The seam's per-response state: the response's own methods and how far its end has gone. @internal */
export interface ResponseHookState {
  writeHead: ServerResponse['writeHead'];
  end: ServerResponse['end'];
  /** 0: not ended; 1: the handler ended it and the engine holds the end back; 2: passed through. */
  ending: 0 | 1 | 2;
  /** The handler's arguments to `end()`, kept while the end is held back. */
  endArgs: unknown[] | undefined;
  /**
   * The arguments of a `writeHead()` held back until the end because the session had store work
   * pending (see `writeHeadOrHold`); sent by the next head the response writes (`write()`,
   * `flushHeaders()` or the end), dropped when the end is replaced by an error answer.
   */
  head: unknown[] | undefined;
  /**
   * While the end is held for asynchronous work: what the response itself had under the names the
   * seam took over so that it behaves as an ended response (`setHeader`, `appendHeader`,
   * `removeHeader`, `write`, `flushHeaders`; `undefined` for a name the response did not own), to
   * be put back when the end goes on. `undefined` otherwise, so a response ended at once gets
   * nothing.
   */
  refused: unknown[] | undefined;
  /**
   * `true` when the response's methods themselves act as on an ended response while {@link refused}
   * is set (an Express app's response prototype, hooked once per app): nothing is put on the
   * response, and {@link refused} holds nothing.
   */
  guarded: boolean;
}

/** The getters and setters of `req.session` and `req.sessionID`, shared by every request. @internal */
export interface SessionAccessor {
  readonly get: (this: IncomingMessage) => unknown;
  readonly set: (this: IncomingMessage, value: unknown) => void;
  /** `req.sessionID`. */
  readonly getId: (this: IncomingMessage) => unknown;
  readonly setId: (this: IncomingMessage, value: unknown) => void;
}

/**
 * The narrow seam between the session engine and the web framework: everything the engine needs
 * of a request and a response that is not plain Node HTTP. Requests are read (headers, cookies)
 * and cookies written through Node's `IncomingMessage`/`ServerResponse`, which Express gives
 * directly and Fastify as `request.raw`/`reply.raw`; what differs per framework is how the
 * response is hooked and where `req.session` lives. The Node implementation works for any
 * framework on Node's HTTP server, Fastify included; the Express one adds a per-app fast path.
 * @internal
 */
export interface SessionHttpSeam {
  /**
   * Call `listener.beforeHeaders()` as the response's headers go out and, when the handler ends
   * the response, `listener.beforeEnd()` before it really ends (a second `end()` while the first
   * is held back is a no-op, as Node's own is). A seam may also hold back an explicit
   * `writeHead()` made while store work is pending, so that a failed write can still answer with
   * its own status (Fastify writes every head that way, see `NodeHttpSeam`).
   */
  hookResponse(res: ServerResponse, listener: ResponseListener): void;
  /**
   * Make `req.session` and `req.sessionID` read and write through `accessor` (express-session's).
   * A `req.session` that earlier middleware (another session library) made an own property of the
   * request is left alone, and so is its `req.sessionID`.
   */
  exposeSession(req: IncomingMessage, accessor: SessionAccessor): void;
}

/** How a seam finds the listener of a hooked response. @internal */
export type ListenerLookup = (res: ServerResponse) => ResponseListener | undefined;

/** What `getHeader()` gives. */
type HeaderValue = number | string | string[] | undefined;

function toList(value: HeaderValue): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [String(value)];
}

/**
 * Copy the Set-Cookie values added to `res` since `before` into the headers given to
 * `writeHead(status, headers)`, which would otherwise replace them (Fastify sends its own cookies
 * that way), so both survive.
 * @internal
 */
export function mergeSetCookie(headers: OutgoingHttpHeaders | undefined, before: HeaderValue, res: ServerResponse): void {
  if (headers === undefined) return;
  const key = Object.keys(headers).find((name) => name.toLowerCase() === 'set-cookie');
  if (key === undefined) return;
  const added = toList(res.getHeader('set-cookie')).slice(toList(before).length);
  headers[key] = [...toList(headers[key]), ...added];
}
