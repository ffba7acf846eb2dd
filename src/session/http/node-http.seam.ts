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
  private idDescriptor: PropertyDescriptor | undefined;

  /** @param lookup finds the listener of a hooked response (the engine keeps it beside the request's session). */
  constructor(protected readonly lookup: ListenerLookup) {}

  hookResponse(res: ServerResponse, listener: ResponseListener): void {
    // Kept to be called later with the response as `this` (see writeHeadThrough and endThrough).
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const { writeHead, end } = res;
    listener.hook = {
      writeHead,
      end,
      ending: 0,
      endArgs: undefined,
      head: undefined,
      refused: undefined,
      guarded: false,
    };
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
      this.idDescriptor = { configurable: true, enumerable: true, get: accessor.getId, set: accessor.setId };
      this.descriptorFor = accessor;
    }
    // Another session library's `req.session`, set before us, stays theirs (see SessionManager.attach).
    if (Object.hasOwn(req, 'session') && Object.getOwnPropertyDescriptor(req, 'session')!.get !== accessor.get) return;
    Object.defineProperty(req, 'session', this.descriptor!);
    Object.defineProperty(req, 'sessionID', this.idDescriptor!);
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
    if (state.ending === 1) {
      // The handler ended the response and its end is held: a head given headers now while the
      // handler's own head is held is a second answer (Fastify sends again when an async route
      // resolves before the reply looks sent): the first answer stands and it is ignored. Any other
      // head is refused as Node refuses one after the end, so it cannot change the waiting answer.
      if (held !== undefined && args.length > 1) return res;
      throw headersSentError('write');
    }
    if (held !== undefined) {
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
  // Still held: the work is asynchronous, and the handler's code after `end()` runs meanwhile.
  if (state.ending === 1) refuseAfterEnd(res, state);
  return res;
}

/** The response methods that must not change a response whose end is held, in {@link ResponseHookState.refused}'s order. @internal */
export const REFUSED = ['setHeader', 'appendHeader', 'removeHeader', 'write', 'flushHeaders'] as const;

/** A name of {@link REFUSED}. @internal */
export type RefusedMethod = (typeof REFUSED)[number];

/** Node's `ERR_HTTP_HEADERS_SENT`, as a response whose headers went out throws it (`verb`: set, append, remove, write). */
function headersSentError(verb: string): Error {
  return Object.assign(new Error(`Cannot ${verb} headers after they are sent to the client`), { code: 'ERR_HTTP_HEADERS_SENT' });
}

/** {@link ResponseHookState.refused} of a guarded response: the refusal is on, nothing was put on the response. */
const NOTHING_SAVED: unknown[] = [];

/** What stands in for the response's own methods while its end is held: they act as on an ended response. @internal */
export const AFTER_END: Record<RefusedMethod, (this: ServerResponse, ...args: unknown[]) => unknown> = {
  setHeader() {
    throw headersSentError('set');
  },
  appendHeader() {
    throw headersSentError('append');
  },
  removeHeader() {
    throw headersSentError('remove');
  },
  // As Node's write() after end(): false, and the error to the callback and as an `error` event on the next tick.
  write(...args: unknown[]) {
    const callback = args.find((arg) => typeof arg === 'function') as ((error: Error) => void) | undefined;
    const error = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
    process.nextTick(() => {
      callback?.(error);
      if (!this.destroyed) this.emit('error', error);
    });
    return false;
  },
  // A no-op, as flushHeaders() is once the headers went out.
  flushHeaders() {},
};

/**
 * The handler ended the response and its end waits for asynchronous store work: until the end
 * goes on, `setHeader()`, `appendHeader()`, `removeHeader()`, `writeHead()` (see
 * {@link writeHeadOrHold}) and `write()` act as they do on a response that ended (Node's
 * `ERR_HTTP_HEADERS_SENT` thrown, `ERR_STREAM_WRITE_AFTER_END` reported), so code after `end()`
 * behaves as it does over a store that answers at once and cannot change the waiting answer (a
 * Content-Length set now would leave the client waiting for a body that never comes). The headers
 * themselves are not sent early: a write that fails still answers 503. Only responses whose end
 * really waits pay for this (one array, and own properties that {@link allowChanges} points back at
 * the originals); a guarded response (an Express app's, see `ExpressHttpSeam`) only gets its
 * `refused` set, since its prototype's methods refuse by themselves.
 */
function refuseAfterEnd(res: ServerResponse, state: ResponseHookState): void {
  if (state.guarded) {
    state.refused = NOTHING_SAVED;
    return;
  }
  const own = res as unknown as Record<RefusedMethod, unknown>;
  const saved: unknown[] = [];
  for (const name of REFUSED) {
    saved.push(Object.hasOwn(own, name) ? own[name] : undefined);
    own[name] = AFTER_END[name];
  }
  state.refused = saved;
}

/** Undo {@link refuseAfterEnd}: the response's own methods (or its prototype's) are back. */
function allowChanges(res: ServerResponse, state: ResponseHookState): void {
  const saved = state.refused;
  if (saved === undefined) return;
  state.refused = undefined;
  if (state.guarded) return;
  const own = res as unknown as Record<RefusedMethod, unknown>;
  const inherited = Object.getPrototypeOf(res) as Record<RefusedMethod, unknown>;
  // Assigned back rather than deleted: a delete would turn the response into a slow dictionary
  // object just before Node writes it out.
  REFUSED.forEach((name, index) => {
    own[name] = saved[index] ?? inherited[name];
  });
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

  /** The engine answers the response itself now: its own methods are back (see {@link allowChanges}). */
  release(): void {
    allowChanges(this.res, this.state);
  }

  /** The handler's arguments, once: a held end is finished only one way. */
  private finish(): unknown[] | undefined {
    const args = this.state.endArgs;
    if (this.state.ending !== 1 || args === undefined) return undefined;
    allowChanges(this.res, this.state);
    this.state.ending = 2;
    this.state.endArgs = undefined;
    return args;
  }
}
