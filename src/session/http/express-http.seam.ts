import type { IncomingMessage, ServerResponse } from 'node:http';
import { AFTER_END, NodeHttpSeam, REFUSED, endThrough, writeHeadOrHold, type RefusedMethod } from './node-http.seam.js';
import type { ResponseListener, SessionAccessor } from './session-http.seam.js';

/** Marks an Express response prototype whose `writeHead`/`end` are hooked, holding the originals. */
const PROTOTYPE_HOOK = Symbol('nest-sessions:response-hook');

/** A response method as the prototype holds it. */
type ResponseMethod = (this: ServerResponse, ...args: unknown[]) => unknown;

interface ResponsePrototype extends Record<RefusedMethod, ResponseMethod> {
  writeHead: ServerResponse['writeHead'];
  end: ServerResponse['end'];
  [PROTOTYPE_HOOK]?: { writeHead: ServerResponse['writeHead']; end: ServerResponse['end'] };
}

/**
 * The seam for Express. Express gives each app its own request and response prototypes
 * (`app.request`, `app.response`, which own `app`), so the response methods and `req.session`
 * are defined there once per app instead of on every request: the speed-up of the Express path,
 * kept in this one class. Anything else (a response whose methods something already replaced,
 * such as compression; a bare Node request) goes through {@link NodeHttpSeam}.
 * @internal
 */
export class ExpressHttpSeam extends NodeHttpSeam {
  override hookResponse(res: ServerResponse, listener: ResponseListener): void {
    const proto = Object.getPrototypeOf(res) as ResponsePrototype | null;
    if (proto === null || !Object.hasOwn(proto, 'app') || Object.hasOwn(res, 'end') || Object.hasOwn(res, 'writeHead')) {
      super.hookResponse(res, listener);
      return;
    }
    const originals = Object.hasOwn(proto, PROTOTYPE_HOOK) ? proto[PROTOTYPE_HOOK]! : this.hookPrototype(proto);
    listener.hook = {
      writeHead: originals.writeHead,
      end: originals.end,
      ending: 0,
      endArgs: undefined,
      head: undefined,
      refused: undefined,
      guarded: true,
    };
  }

  override exposeSession(req: IncomingMessage, accessor: SessionAccessor): void {
    const proto = Object.getPrototypeOf(req) as object | null;
    if (proto === null || !Object.hasOwn(proto, 'app') || Object.hasOwn(req, 'session')) {
      super.exposeSession(req, accessor);
      return;
    }
    // The accessor finds each request's own session, so one definition serves every request of the app.
    if (!Object.hasOwn(proto, 'session')) {
      Object.defineProperty(proto, 'session', { configurable: true, enumerable: false, get: accessor.get, set: accessor.set });
      Object.defineProperty(proto, 'sessionID', { configurable: true, enumerable: false, get: accessor.getId, set: accessor.setId });
    }
  }

  /**
   * Hook an app's response prototype once. Responses of that app that were not hooked for a
   * session (an `app.use()` middleware answered before the session loaded, a mounted sub-app) go
   * straight to the originals.
   */
  private hookPrototype(proto: ResponsePrototype): NonNullable<ResponsePrototype[typeof PROTOTYPE_HOOK]> {
    const originals = { writeHead: proto.writeHead, end: proto.end };
    const lookup = this.lookup;
    const hooked = (res: ServerResponse): ResponseListener | undefined => {
      const listener = lookup(res);
      return listener?.hook?.writeHead === originals.writeHead ? listener : undefined;
    };
    Object.defineProperty(proto, PROTOTYPE_HOOK, { value: originals });
    proto.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
      return writeHeadOrHold(this, hooked(this), originals.writeHead, args);
    };
    proto.end = function end(this: ServerResponse, ...args: unknown[]) {
      return endThrough(this, hooked(this), originals.end, args);
    } as ServerResponse['end'];
    // While a hooked response's end is held, these act as on an ended response. Done here once
    // rather than per response: a property added to a response after Express set its prototype
    // costs V8 a slow path (figures in bench/README.md).
    const held = (res: ServerResponse): boolean => hooked(res)?.hook!.refused !== undefined;
    for (const name of REFUSED) proto[name] = guardWhileHeld(proto[name], AFTER_END[name], held);
    return originals;
  }
}

/** `original`, or `refuse` while {@link held}; three fixed parameters, as the longest of them (`write`) takes, so no call allocates a rest array. */
function guardWhileHeld(original: ResponseMethod, refuse: ResponseMethod, held: (res: ServerResponse) => boolean): ResponseMethod {
  return function (this: ServerResponse, a?: unknown, b?: unknown, c?: unknown) {
    return (held(this) ? refuse : original).call(this, a, b, c);
  };
}
