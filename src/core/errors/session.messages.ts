/** Message factories, kept in one place so wording stays consistent and testable. */
export const SessionMessages = {
  invalidOption: (option: string, rule: string, fix: string): string => `nest-sessions: invalid option \`${option}\`: ${rule}. ${fix}`,
  storeUnavailable: (operation: string): string =>
    `nest-sessions: the session store failed to ${operation}; the request was not completed.`,
  headersSent: (what: string): string =>
    `nest-sessions: cannot ${what} after the response headers were sent; change the session before streaming or redirecting.`,
  invalidId: (): string => 'nest-sessions: the store was given a malformed session ID.',
  invalidLock: (): string =>
    'nest-sessions: the store was given a malformed lock key, owner or ttl (a 43-character base64url key, an owner of 1 to 64 printable ASCII characters, a ttl of 1 ms to 400 days).',
  noSession: (): string =>
    'nest-sessions: no session on this request. Is SessionModule imported, and does the route run through its middleware?',
  asyncContextOff: (): string =>
    'nest-sessions: CurrentSession was used, but SessionModule keeps no current session for services unless its `asyncContext` option is on (it is off by default, so that apps without it pay nothing per request). Set `asyncContext: true` in SessionModule.forRoot() or forRootAsync() (beside `isGlobal`), or pass the session down from `@Session()`.',
  noCurrentRequest: (): string =>
    'nest-sessions: CurrentSession.get() was called outside any request, GraphQL operation or gateway message (a scheduled job, a queue consumer or bootstrap code has no session). Call it only from code a request runs, use CurrentSession.find() where there may be none, or pass the session in.',
  unsupportedContext: (type: string): string =>
    `nest-sessions: sessions are not available in a "${type}" execution context that carries no HTTP request.`,
  codec: (direction: 'encode' | 'decode', key: string): string =>
    `nest-sessions: the codec could not ${direction} the value of session key "${key}".`,
  payloadTooLarge: (size: number, max: number): string =>
    `nest-sessions: the sealed session is ${size} bytes, over the cookie store's maxSize of ${max}; keep less in the session or use a server-side store.`,
  notSupported: (store: string, method: string): string =>
    `nest-sessions: the ${store} store does not support ${method}(); see the store table in docs/stores.md#which-store for the stores that do.`,
  clientSideStore: (service: string): string =>
    `nest-sessions: ${service} needs a server-side store, but the \`store\` option is a client-side store (CookieStore) that keeps each session in its browser, with nothing shared to lock or index. Give SessionModule a server-side store, e.g. store: 'redis://…', a TypeormStore or a MemcachedStore.`,
  locksNotSupported: (store: string): string =>
    `nest-sessions: the ${store} store has no tryLock() and unlock(), so SessionLocks cannot lock with it. Use a store that has them (memory, file, Redis, TypeORM, memcached, MongoDB) or add both to yours; check SessionLocks.supported before locking.`,
  invalidArgument: (method: string, argument: string, rule: string, fix: string): string =>
    `nest-sessions: invalid argument \`${argument}\` of ${method}(): ${rule}. ${fix}`,
  lost: (): string =>
    'nest-sessions: the session record expired or was destroyed elsewhere while this request ran; its changes were not saved.',
  replaceSession: (): string =>
    'nest-sessions: req.session cannot be replaced by another value. Set a value with `req.session.<key> = …` or `session.set()`, and log out with `req.session = null` or `destroy()`.',
  viewId: (operation: 'assigned' | 'deleted'): string =>
    `nest-sessions: req.session.id cannot be ${operation}; nest-sessions issues session IDs. Call \`req.session.regenerate()\` for a new ID (after a login, say), or \`req.session.destroy()\` to end the session.`,
  viewCookie: (operation: 'assigned' | 'deleted'): string =>
    `nest-sessions: req.session.cookie cannot be ${operation}. The session cookie's attributes and lifetime come from SessionModule's \`cookie\`, \`idleTimeout\` and \`absoluteTimeout\` options; \`req.session.touch()\` moves the idle expiry.`,
  viewMethod: (method: string, operation: 'assigned' | 'deleted'): string =>
    `nest-sessions: req.session.${method} cannot be ${operation}; it is a method of the session, not data. Keep data under another key, and wrap the call in a function of your own to add behaviour.`,
  viewSymbolKey: (): string =>
    'nest-sessions: req.session cannot keep a symbol key; session data is stored under string keys. Use a string key: `req.session.<key> = …`.',
  viewCookieObject: (operation: 'assigned' | 'deleted'): string =>
    `nest-sessions: req.session.cookie cannot be ${operation} as a whole; change its members instead, e.g. \`req.session.cookie.maxAge = 30 * 86_400_000\` ("remember me") or \`req.session.cookie.secure = true\`. The defaults come from SessionModule's \`cookie\`, \`idleTimeout\` and \`absoluteTimeout\` options.`,
  viewCookieMember: (member: string, rule: string, fix: string): string => `nest-sessions: req.session.cookie.${member} ${rule}. ${fix}`,
  viewSessionId: (): string =>
    'nest-sessions: req.sessionID cannot be set to another ID; nest-sessions issues session IDs. Call `req.session.regenerate()` for a new ID, or set req.sessionID to a non-string (as express-session allowed) to keep this request from saving the session.',
  reloadMissing: (): string =>
    'nest-sessions: req.session.reload() found no stored session (it expired, was destroyed elsewhere, or was never saved); the session was left as it was.',
  callbackFailed: (method: string): string =>
    `nest-sessions: the callback given to req.session.${method}() threw; this error's cause is what it threw.`,
  listenerFailed: (event: string): string =>
    `nest-sessions: a listener of "${event}" threw or rejected; the request went on. This error's cause is what it threw.`,
  updateConflict: (key: string, timeout: number): string =>
    `nest-sessions: session.update('${key}') could not take the key's lock within ${timeout} ms (other requests of this session held it); nothing was changed. Retry the request, or give a longer \`timeout\`.`,
  handleUnknown: (): string =>
    'nest-sessions: no live session of this principal has that handle (it ended already, or belongs to someone else); nothing was revoked.',
} as const;
