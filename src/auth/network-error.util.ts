/**
 * Whether `error` means the provider could not be reached or answered something that is not
 * OAuth (a timeout, a refused connection, an HTML error page), as opposed to an answer that
 * refused the request: the first is worth a retry later (502), the second is the caller's (400).
 * Looks through the chain of causes, since openid-client and jose wrap the fetch failure.
 * @internal
 */
export function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError' || error.name === 'TimeoutError') return true;
  if (error instanceof TypeError && /fetch failed/i.test(error.message)) return true;
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_JWKS_TIMEOUT' || code === 'OAUTH_RESPONSE_IS_NOT_JSON') return true;
  return error.cause !== undefined && error.cause !== error && isNetworkError(error.cause);
}
