import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSampleApp, type SampleApp } from '../../sample-app/server.js';
import { freePort } from '../support/ports.js';

/** Debian's Chromium (playwright-core drives it; `npx playwright install` is never needed). */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Flags that work as root in a container without network (see the toolchain notes). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * The sample app as `npm start` runs it (development provider, no OIDC_ISSUER), driven by a real
 * Chromium: log in through the provider's own forms, see the welcome flash once, log out; list and
 * log out one user's sessions from two browsers ("devices"); on Express and on Fastify.
 */
describe.each(['express', 'fastify'] as const)('sample app in a real browser, on %s (SAMPLE_PLATFORM)', (platform) => {
  let app: SampleApp | undefined;
  let browser: Browser | undefined;
  let page: Page;
  /** Every top-level request the page made (redirect hops included), as absolute URLs without the query. */
  const navigations: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed (${CHROMIUM} is missing), so the browser test cannot run. Install it with ` +
          '`apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium` ' +
          '(.ci/run does this), or point CHROMIUM_PATH at a Chromium binary.',
      );
    }
    const env = {
      PORT: String(await freePort()),
      OIDC_DEV_PORT: String(await freePort()),
      SESSION_SECRET: 'browser-test-secret-0123456789abcdef',
      SAMPLE_PLATFORM: platform,
    };
    app = await startSampleApp({ env, host: '127.0.0.1', logger: false });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const context = await browser.newContext();
    // Only the app and the provider: the provider's pages import web fonts, which a closed network would
    // leave hanging.
    await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
    page = await context.newPage();
    page.setDefaultTimeout(5_000);
    page.on('request', (request) => {
      if (request.isNavigationRequest() && request.frame() === page.mainFrame())
        navigations.push(`${request.method()} ${request.url().split('?')[0]}`);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  /** The texts of the flash messages on the page, as [type, text] pairs. */
  async function flashes(): Promise<Array<[string, string]>> {
    return page
      .locator('p.flash')
      .evaluateAll((elements) =>
        elements.map((element) => [element.className.replace(/^flash flash-/, ''), element.textContent ?? ''] as [string, string]),
      );
  }

  it('logs in at the development provider, welcomes once, and logs out', async () => {
    const home = `${app!.url}/`;
    const issuer = app!.devProvider!.issuer;

    await page.goto(home);
    expect(await page.locator('#user').count()).toBe(0);
    await page.getByRole('link', { name: 'Log in' }).click();

    // The provider's devInteractions login form: any login and password.
    await page.waitForURL((url) => url.href.startsWith(`${issuer}/interaction/`));
    await page.locator('input[name="login"]').fill('alice');
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();

    // The consent form comes on the first login of a client; then the way back to the app.
    await page.waitForURL((url) => url.href === home || url.href.startsWith(`${issuer}/interaction/`));
    if (page.url() !== home) {
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL(home);
    }

    expect(await page.locator('#user').textContent()).toBe('Signed in as Alice (alice@example.test)');
    expect(await flashes()).toEqual([['success', 'Welcome, Alice!']]);
    // The way back went through the module's callback and the app's /welcome.
    expect(navigations.slice(-3)).toEqual([`GET ${app!.url}/auth/callback`, `GET ${app!.url}/welcome`, `GET ${home}`]);

    // A flash shows once.
    await page.reload();
    expect(await flashes()).toEqual([]);
    expect(await page.locator('#user').textContent()).toBe('Signed in as Alice (alice@example.test)');

    // Log out: the provider asks for confirmation, then sends the browser back to the home page.
    navigations.length = 0;
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL((url) => url.href === home || url.href.startsWith(`${issuer}/`));
    if (page.url() !== home) {
      await page.getByRole('button', { name: 'Yes, sign me out' }).click();
      await page.waitForURL(home);
    }
    expect(navigations[0]).toBe(`POST ${app!.url}/logout`);
    expect(await flashes()).toEqual([['info', 'You are logged out.']]);
    expect(await page.locator('#user').count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Log in' }).count()).toBe(1);
  });

  describe('"Your sessions" with two devices of one user', () => {
    const contexts: BrowserContext[] = [];

    afterAll(async () => {
      for (const context of contexts) await context.close();
    });

    /** A browser of its own (cookie jar and user agent): one "device". */
    async function device(userAgent: string): Promise<Page> {
      const context = await browser!.newContext({ userAgent });
      contexts.push(context);
      await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
      const devicePage = await context.newPage();
      devicePage.setDefaultTimeout(5_000);
      return devicePage;
    }

    /**
     * Run `action` (a click) and wait until the main frame has landed on the page it leads to: after
     * a redirect chain, or a form that posts back to the page it is on, `waitForURL` could resolve at
     * once on the URL the page already has.
     */
    async function landAfter(devicePage: Page, action: () => Promise<void>): Promise<void> {
      const landed = devicePage.waitForEvent('framenavigated', { predicate: (frame) => frame === devicePage.mainFrame() });
      await action();
      await landed;
      await devicePage.waitForLoadState();
    }

    /**
     * Log in from the home page through the provider's forms (its login form, and its consent form
     * when asked; a provider session that is still alive skips both), back on the home page.
     */
    async function logIn(devicePage: Page, login: string): Promise<void> {
      const home = `${app!.url}/`;
      const issuer = app!.devProvider!.issuer;
      await devicePage.goto(home);
      await landAfter(devicePage, () => devicePage.getByRole('link', { name: 'Log in' }).click());
      for (let step = 0; step < 3 && devicePage.url() !== home; step += 1) {
        expect(devicePage.url().startsWith(`${issuer}/interaction/`), `login went to ${devicePage.url()}`).toBe(true);
        if ((await devicePage.locator('input[name="login"]').count()) > 0) {
          await devicePage.locator('input[name="login"]').fill(login);
          await devicePage.locator('input[name="password"]').fill('any password');
          await landAfter(devicePage, () => devicePage.getByRole('button', { name: 'Sign-in' }).click());
        } else {
          await landAfter(devicePage, () => devicePage.getByRole('button', { name: 'Continue' }).click());
        }
      }
      expect(devicePage.url()).toBe(home);
    }

    /** Who the page says is logged in, or undefined when nobody is. */
    async function signedInAs(devicePage: Page): Promise<string | undefined> {
      const user = devicePage.locator('#user');
      return (await user.count()) === 0 ? undefined : ((await user.textContent()) ?? '');
    }

    /** The sessions the sessions page lists, as the user reads them. */
    async function listedSessions(devicePage: Page): Promise<Array<{ agent: string; current: boolean; revocable: boolean }>> {
      return devicePage.locator('#sessions li.session').evaluateAll((items) =>
        items.map((item) => ({
          agent: item.querySelector('.agent')?.textContent ?? '',
          current: item.querySelector('.current')?.textContent === '(this device)',
          revocable: item.querySelector('form[action="/sessions/revoke"] input[name="handle"]') !== null,
        })),
      );
    }

    /** The texts of the flash messages on the page, as [type, text] pairs. */
    function flashesOf(devicePage: Page): Promise<Array<[string, string]>> {
      return devicePage
        .locator('p.flash')
        .evaluateAll((elements) =>
          elements.map((element) => [element.className.replace(/^flash flash-/, ''), element.textContent ?? ''] as [string, string]),
        );
    }

    it('lists both devices, logs one out from the other, and logs out the other sessions', { timeout: 60_000 }, async () => {
      const sessionsUrl = `${app!.url}/sessions`;
      const agentA = `Device A (${platform}; nest-sessions browser test)`;
      const agentB = `Device B (${platform}; nest-sessions browser test)`;
      const startedAt = Date.now();
      const a = await device(agentA);
      const b = await device(agentB);

      await logIn(a, 'carol');
      await logIn(b, 'carol');
      expect(await signedInAs(a)).toBe('Signed in as Carol (carol@example.test)');
      expect(await signedInAs(b)).toBe('Signed in as Carol (carol@example.test)');

      // A's page lists both sessions, A's own marked, each with the user agent it started with.
      await landAfter(a, () => a.getByRole('link', { name: 'Your sessions' }).click());
      expect(a.url()).toBe(sessionsUrl);
      expect(await a.locator('h1').textContent()).toBe('Your sessions');
      expect((await listedSessions(a)).sort((x, y) => x.agent.localeCompare(y.agent))).toEqual([
        { agent: agentA, current: true, revocable: false },
        { agent: agentB, current: false, revocable: true },
      ]);
      const started = await a.locator('#sessions li.session', { hasText: agentA }).locator('time').first().getAttribute('datetime');
      expect(Date.parse(started ?? '')).toBeGreaterThanOrEqual(startedAt - 1_000);
      expect(Date.parse(started ?? '')).toBeLessThanOrEqual(Date.now());

      // A logs B out.
      await landAfter(a, () =>
        a.locator('#sessions li.session', { hasText: agentB }).getByRole('button', { name: 'Log out this session' }).click(),
      );
      expect(a.url()).toBe(sessionsUrl);
      expect(await flashesOf(a)).toEqual([['success', 'The session was logged out.']]);
      expect(await listedSessions(a)).toEqual([{ agent: agentA, current: true, revocable: false }]);
      expect(await a.getByRole('button', { name: 'Log out other sessions' }).count()).toBe(0);

      // B's next page: logged out.
      await b.reload();
      expect(await signedInAs(b)).toBeUndefined();
      expect(await b.getByRole('link', { name: 'Log in' }).count()).toBe(1);

      // B logs in again (the provider may still know B), then logs out every other session: A's.
      await logIn(b, 'carol');
      await b.goto(sessionsUrl);
      expect((await listedSessions(b)).sort((x, y) => x.agent.localeCompare(y.agent))).toEqual([
        { agent: agentA, current: false, revocable: true },
        { agent: agentB, current: true, revocable: false },
      ]);
      await landAfter(b, () => b.getByRole('button', { name: 'Log out other sessions' }).click());
      expect(b.url()).toBe(sessionsUrl);
      expect(await flashesOf(b)).toEqual([['success', 'Logged out 1 other session.']]);
      expect(await listedSessions(b)).toEqual([{ agent: agentB, current: true, revocable: false }]);

      // A is logged out; B stays logged in.
      await a.goto(`${app!.url}/`);
      expect(await signedInAs(a)).toBeUndefined();
      expect(await a.getByRole('link', { name: 'Log in' }).count()).toBe(1);
      await b.goto(`${app!.url}/`);
      expect(await signedInAs(b)).toBe('Signed in as Carol (carol@example.test)');
    });
  });
});
