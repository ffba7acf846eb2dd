import { Controller, Get, Post, Redirect } from '@nestjs/common';
import { expect } from 'vitest';
import { Session, type SessionHandle } from '../../src/index.js';
import type { OidcTestBrowser } from './oidc-browser.js';

/**
 * What the next request to the probe runs with its session (one test file, one app): set by
 * {@link inRequest}, or directly by a test that sends the requests itself.
 */
export const probe: { work?: (session: SessionHandle) => Promise<unknown> } = {};

/**
 * `POST /probe`: runs the work {@link inRequest} gave it with the request's session, so a test can
 * call an auth unit directly on a real session loaded by the engine for a real HTTP request.
 */
@Controller('probe')
export class ProbeController {
  @Post()
  async run(@Session() session: SessionHandle): Promise<{ done: true }> {
    await probe.work!(session);
    return { done: true };
  }

  /** `GET /probe/begin`: runs the work and sends the browser where it says, as a login route does. */
  @Get('begin')
  @Redirect()
  async begin(@Session() session: SessionHandle): Promise<{ url: string; statusCode: number }> {
    return { url: String(await probe.work!(session)), statusCode: 302 };
  }
}

/**
 * Run `work` inside a request of `browser` to the app at `app` (which has {@link ProbeController}),
 * with that request's session; its outcome is returned or thrown here.
 */
export async function inRequest<T>(app: string, browser: OidcTestBrowser, work: (session: SessionHandle) => Promise<T>): Promise<T> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  probe.work = async (session) => {
    try {
      outcome = { ok: true, value: await work(session) };
    } catch (error) {
      outcome = { ok: false, error };
    }
  };
  const response = await browser.request(`${app}/probe`, { method: 'POST' });
  expect(response.status).toBe(201);
  if (!outcome!.ok) throw outcome!.error;
  return outcome!.value;
}
