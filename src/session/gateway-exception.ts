import { SessionError } from '../core/errors/session.error.js';

/**
 * The error to throw from a guard, pipe or handler of a WebSocket gateway so the client learns
 * why it was refused. Nest's gateway exception filter tells the client only about a `WsException`
 * (anything else becomes "Internal server error"), and global filters do not apply to gateways, so
 * a `SessionError` (an `AuthError` from `AuthenticatedGuard`, say) is turned into one carrying
 * `{ status: 'error', code, message }`: the shape of the refusals `withSessions()` sends itself.
 * Other errors are returned unchanged. `@nestjs/websockets` is loaded only when called: every app
 * with gateways has it, and the package needs it nowhere else.
 *
 * @example
 * ```ts
 * @SubscribeMessage('balance')
 * async balance(@Session() session: SessionHandle) {
 *   try {
 *     return await this.bank.balance(await this.auth.getAccessToken(session));
 *   } catch (error) {
 *     throw await toGatewayException(error);
 *   }
 * }
 * ```
 */
export async function toGatewayException(error: unknown): Promise<unknown> {
  if (!(error instanceof SessionError)) return error;
  const { WsException } = await import('@nestjs/websockets');
  return new WsException({ status: 'error', code: error.code, message: error.message });
}
