import type { StoredLogin } from './auth-session.js';

/** A `fetch` that sends the user's access token (see `AuthManager.fetch`). */
export type AuthFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * A `fetch` that sends `Authorization: Bearer <access token>` with the tokens `tokens` hands out
 * and, when the API answers 401 and the request can be sent again, asks `tokens` for a forced
 * refresh and retries once: an API may refuse a token before its stated expiry (revoked, or the
 * clocks disagree).
 * @param tokens the login with valid tokens (`AuthManager.getTokens` for one session and provider);
 *   its errors (`AUTH_LOGIN_REQUIRED`, `AUTH_PROVIDER_UNAVAILABLE`) reject the fetch
 * @internal
 */
export function createAuthFetch(tokens: (options: { forceRefresh?: boolean }) => Promise<StoredLogin>): AuthFetch {
  return async (input, init = {}) => {
    const send = (token: string): Promise<Response> => {
      const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
      headers.set('authorization', `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    };
    const login = await tokens({});
    const response = await send(login.accessToken);
    if (response.status !== 401 || !login.refreshToken || !isReplayable(input, init.body)) return response;
    await response.body?.cancel();
    const fresh = await tokens({ forceRefresh: true });
    return send(fresh.accessToken);
  };
}

/** Whether a request can be sent a second time: a streamed body is gone after the first. */
function isReplayable(input: string | URL | Request, body: RequestInit['body']): boolean {
  if (input instanceof Request && input.body !== null) return false;
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  );
}
