import { Injectable } from '@nestjs/common';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import type { SessionRecord } from '../core/session-store.interface.js';
import { SessionManager } from './session.manager.js';
import { DEVICE_KEY, type AnySession } from './session.js';

/** One live session of a user, as a "your devices" page shows it. */
export interface SessionDevice {
  /**
   * The session's handle: opaque, stable while its ID is, and no credential (it cannot be sent as a
   * session cookie). Give it back to {@link SessionDevices.revoke}.
   */
  handle: string;
  /** Whether it is the session of the request that asked. */
  current: boolean;
  /** When the session started (epoch ms). */
  createdAt: number;
  /**
   * When it was last used (epoch ms), read off its expiry: to within `touchInterval`; in the
   * session's last idle lifetime before its absolute deadline, a lower bound.
   */
  lastSeenAt: number;
  /** When it ends unless used again (epoch ms). */
  expiresAt: number;
  /** The browser's user agent at the start (`deviceInfo.userAgent`). Personal data. */
  userAgent?: string;
  /** The client's IP address at the start (`deviceInfo.ip`). Personal data. */
  ip?: string;
}

/**
 * "Where am I logged in": the live sessions of the current user (the `principal` option), listed
 * by handle with their metadata, one revoked, or all but the current one logged out. Works on every
 * server-side store (principals are indexed by the store or, for memcached and connect stores, by
 * the engine). Each revocation emits a `destroyed` event with reason `revoked`.
 *
 * Provided and exported by `SessionModule`.
 *
 * @example
 * ```ts
 * @Get('devices')
 * devices(@Session() session: Session) {
 *   return this.devices.list(session);
 * }
 *
 * @Post('devices/:handle/revoke')
 * revoke(@Session() session: Session, @Param('handle') handle: string) {
 *   return this.devices.revoke(session, handle);
 * }
 * ```
 */
@Injectable()
export class SessionDevices {
  constructor(private readonly manager: SessionManager) {}

  /**
   * The live sessions of the user `session` belongs to, the most recently seen first; none when
   * it belongs to nobody yet.
   * @throws SessionError `SESSION_OPTIONS_INVALID` without the `principal` option;
   *   `SESSION_NOT_SUPPORTED` over `CookieStore`; `SESSION_STORE_UNAVAILABLE`.
   */
  async list(session: AnySession): Promise<SessionDevice[]> {
    const principal = this.principalOf(session, 'list');
    return principal === undefined ? [] : this.listOf(principal, session);
  }

  /**
   * The live sessions of `principal` (an administrator's view), the most recently seen first;
   * `current` marks `session`'s when given.
   * @throws SessionError `SESSION_NOT_SUPPORTED` over `CookieStore`; `SESSION_STORE_UNAVAILABLE`.
   * @example await devices.listOf('user-42')
   */
  async listOf(principal: string, session?: AnySession): Promise<SessionDevice[]> {
    const currentId = session === undefined || session.isNew ? undefined : session.id;
    const sessions = await this.manager.findByPrincipal(principal);
    const devices = await Promise.all(
      sessions.map(async ({ id }) => {
        const record = await this.manager.readStored(id);
        return record === null || record.principal !== principal ? undefined : this.describe(id, record, id === currentId);
      }),
    );
    return devices
      .filter((device): device is SessionDevice => device !== undefined)
      .sort((a, b) => b.lastSeenAt - a.lastSeenAt || (a.handle < b.handle ? -1 : 1));
  }

  /**
   * End one session of the user `session` belongs to, named by its handle (from {@link SessionDevices.list}).
   * Revoking the current session destroys it like `session.destroy()` (a logout).
   * @throws SessionError `SESSION_HANDLE_UNKNOWN` (404) when no live session of that user has the
   *   handle (another user's handles are never found); `SESSION_OPTIONS_INVALID` without the
   *   `principal` option; `SESSION_STORE_UNAVAILABLE`.
   */
  async revoke(session: AnySession, handle: string): Promise<void> {
    const principal = this.principalOf(session, 'revoke');
    const id = principal === undefined || typeof handle !== 'string' ? undefined : await this.findId(principal, handle);
    if (id === undefined) throw new SessionError('SESSION_HANDLE_UNKNOWN', SessionMessages.handleUnknown());
    if (!session.isNew && id === session.id) {
      await session.destroy();
      return;
    }
    await this.manager.revoke(id, principal, this.manager.exchangeOf(session).req);
  }

  /**
   * Log out every other session of the user `session` belongs to ("log out my other devices");
   * resolves how many were ended. The current session stays.
   * @throws SessionError `SESSION_OPTIONS_INVALID` without the `principal` option; `SESSION_STORE_UNAVAILABLE`.
   */
  async revokeOthers(session: AnySession): Promise<number> {
    const principal = this.principalOf(session, 'revokeOthers');
    if (principal === undefined) return 0;
    const currentId = session.isNew ? undefined : session.id;
    const req = this.manager.exchangeOf(session).req;
    const others = (await this.manager.findByPrincipal(principal)).filter(({ id }) => id !== currentId);
    await Promise.all(others.map(({ id }) => this.manager.revoke(id, principal, req)));
    return others.length;
  }

  private async findId(principal: string, handle: string): Promise<string | undefined> {
    const sessions = await this.manager.findByPrincipal(principal);
    return sessions.find(({ id }) => this.manager.handleOf(id) === handle)?.id;
  }

  private principalOf(session: AnySession, method: string): string | undefined {
    if (!this.manager.indexesPrincipals) {
      throw new SessionError(
        'SESSION_OPTIONS_INVALID',
        SessionMessages.invalidOption(
          'principal',
          `SessionDevices.${method}() needs to know whose sessions to look at`,
          "Give SessionModule the principal option, e.g. principal: 'userId'.",
        ),
      );
    }
    return this.manager.principalOfSession(session);
  }

  private describe(id: string, record: SessionRecord, current: boolean): SessionDevice {
    const device: SessionDevice = {
      handle: this.manager.handleOf(id),
      current,
      createdAt: record.createdAt,
      lastSeenAt: this.manager.lastSeenOf(record),
      expiresAt: record.expiresAt,
    };
    const info = this.decode(record, DEVICE_KEY) as { userAgent?: unknown; ip?: unknown } | null | undefined;
    if (typeof info?.userAgent === 'string') device.userAgent = info.userAgent;
    if (typeof info?.ip === 'string') device.ip = info.ip;
    return device;
  }

  /** The engine's value under `key` of `record`; `undefined` when absent or unreadable (a page of devices must not fail on one). */
  private decode(record: SessionRecord, key: string): unknown {
    if (!Object.hasOwn(record.data, key)) return undefined;
    try {
      return this.manager.codec.decode(record.data[key]);
    } catch {
      return undefined;
    }
  }
}
