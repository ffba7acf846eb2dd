import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type {
  ListenerLookup,
  ResponseEnd,
  ResponseHookState,
  ResponseListener,
  SessionAccessor,
  SessionHttpSeam,
} from './session-http.seam.js';

/**
 * The seam for any framework on Node's HTTP server (a bare `http.Server`, Fastify's raw request
 * and response): the response's `writeHead` and `end` are replaced on the response itself, and
 * `req.session` is an own property of the request.
 *
 * A `writeHead(status, headers)` made while the session has store work pending is held
 * back until the end (see {@link writeHeadOrHold}). Fastify's `reply.send()` writes every response
 * that way, the head and then the end in one go: without the hold the status line would be fixed
 * before the store write, and a write that failed could only cut the connection instead of
 * answering 503 (or 409). A `write()` or `flushHeaders()` sends the held head at once.
 * @internal
 */
export class NodeHttpSeam implements SessionHttpSeam {
  private descriptorFor: SessionAccessor | undefined;
  private descriptor: PropertyDescriptor | undefined;

  /** @param lookup finds the listener of a hooked response (the engine keeps it beside the request's session). */
  constructor(protected readonly lookup: ListenerLookup) {}

  hookResponse(res: ServerResponse, listener: ResponseListener): void {
    // Kept to be called later with the response as `this` (see writeHeadThrough and endThrough).
    // eslint-disable-next-line @typescript-eslint/unbound-method
    listener.hook = { writeHead: res.writeHead, end: res.end, ending: 0, endArgs: undefined, head: undefined };
    const lookup = this.lookup;
    // One pair of functions per seam, not per response: the state is found through the lookup.
    this.ownHooks ??= {
      writeHead(this: ServerResponse, ...args: unknown[]) {
        const found = lookup(this);
        return writeHeadOrHold(this, found, found!.hook!.writeHead, args);
      },
      end(this: ServerResponse, ...args: unknown[]) {
        const found = lookup(this);
        return endThrough(this, found, found!.hook!.end, args);
      },
    };
    res.writeHead = this.ownHooks.writeHead;
    res.end = this.ownHooks.end as ServerResponse['end'];
  }

  private ownHooks: { writeHead: (...args: unknown[]) => ServerResponse; end: (...args: unknown[]) => ServerResponse } | undefined;

  exposeSession(req: IncomingMessage, accessor: SessionAccessor): void {
    if (this.descriptorFor !== accessor) {
      // Enumerable, as the plain property it stands for.
      this.descriptor = { configurable: true, enumerable: true, get: accessor.get, set: accessor.set };
      this.descriptorFor = accessor;
    }
    Object.defineProperty(req, 'session', this.descriptor!);
  }
}

/** The hooked `writeHead`: the listener's work (once, before the headers), then the original. @internal */
export function writeHeadThrough(
  res: ServerResponse,
  listener: ResponseListener | undefined,
  original: ServerResponse['writeHead'],
  args: unknown[],
): ServerResponse {
  if (listener && !res.headersSent) {
    const last = args[args.length - 1];
    const headers = last && typeof last === 'object' && !Array.isArray(last) ? (last as OutgoingHttpHeaders) : undefined;
    listener.beforeHeaders(headers);
  }
  return (original as (...a: unknown[]) => ServerResponse).apply(res, args);
}

/**
 * The hooked `writeHead` of {@link NodeHttpSeam}: a head written with headers (`writeHead(status,
 * headers)`, as Fastify writes every head) while the response's end will wait for store work is
 * held back (returning the response, as `writeHead()` does), so the engine can
 * still answer with another status if that work fails. The next head the response writes (Node's
 * own, from `write()`, `flushHeaders()` or the end) sends the held one instead; an end the engine
 * replaces drops it (see `HeldEnd.replace`). A second `writeHead()` while one is held is taken for
 * Node's own and sends the held head; once the end is held too, one given headers is a second
 * answer and is ignored.
 * @internal
 */
export function writeHeadOrHold(
  res: ServerResponse,
  listener: ResponseListener | undefined,
  original: ServerResponse['writeHead'],
  args: unknown[],
): ServerResponse {
  const state = listener?.hook;
  if (state !== undefined) {
    const held = state.head;
    if (held !== undefined) {
      // The handler ended the response and its end is held: a head given headers now is a second
      // answer (Fastify sends again when an async route resolves before the reply looks sent),
      // which Node would refuse. The first answer stands.
      if (state.ending === 1 && args.length > 1) return res;
      state.head = undefined;
      return writeHeadThrough(res, listener, original, held);
    }
    // Only a head given headers is held: Node's own (`_implicitHeader()`, from `write()` or the end)
    // gives the status alone and must go out at once.
    if (args.length > 1 && state.ending === 0 && !res.headersSent && listener!.mustWaitBeforeEnd()) {
      // Copied, as writeHead() would read them now: the caller may change its object meanwhile.
      state.head = args.map(copyHeaders);
      return res;
    }
  }
  return writeHeadThrough(res, listener, original, args);
}

/** A copy of a `writeHead()` argument that is a headers object or a raw header list; other arguments as they are. */
function copyHeaders(arg: unknown): unknown {
  if (Array.isArray(arg)) return arg.slice();
  return arg !== null && typeof arg === 'object' ? { ...arg } : arg;
}

/**
 * The hooked `end`: when the listener has work to finish, the end is held back until it is done.
 * A second `end()` meanwhile is a no-op (its callback runs when the response finishes), as
 * Node's own `end()` is once a response ended; passing it on would end the response without
 * the body the first call gave.
 * @internal
 */
export function endThrough(
  res: ServerResponse,
  listener: ResponseListener | undefined,
  original: ServerResponse['end'],
  args: unknown[],
): ServerResponse {
  const state = listener?.hook;
  if (!listener || !state || state.ending === 2) return (original as (...a: unknown[]) => ServerResponse).apply(res, args);
  if (state.ending === 1) {
    const callback = args[args.length - 1];
    if (typeof callback === 'function') res.once('finish', callback as () => void);
    return res;
  }
  if (!listener.mustWaitBeforeEnd()) {
    state.ending = 2;
    return (original as (...a: unknown[]) => ServerResponse).apply(res, args);
  }
  state.ending = 1;
  state.endArgs = args;
  listener.beforeEnd(new HeldEnd(res, state));
  return res;
}

/** An end held back by {@link endThrough}, finished by the engine. */
class HeldEnd implements ResponseEnd {
  constructor(
    readonly res: ServerResponse,
    private readonly state: ResponseHookState,
  ) {}

  proceed(): void {
    const args = this.finish();
    if (args) (this.state.end as (...a: unknown[]) => ServerResponse).apply(this.res, args);
  }

  replace(body: string): void {
    if (!this.finish()) return;
    // The handler's held head (its status and headers) is not the answer any more.
    this.state.head = undefined;
    (this.state.end as (chunk: string) => ServerResponse).call(this.res, body);
  }

  /** The handler's arguments, once: a held end is finished only one way. */
  private finish(): unknown[] | undefined {
    const args = this.state.endArgs;
    if (this.state.ending !== 1 || args === undefined) return undefined;
    this.state.ending = 2;
    this.state.endArgs = undefined;
    return args;
  }
}
