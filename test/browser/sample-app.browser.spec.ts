import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
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
 * Chromium: log in through the provider's own forms, see the welcome flash once, log out; on
 * Express and on Fastify.
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
});
