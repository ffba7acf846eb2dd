/**
 * A small cookie-carrying HTTP client over the global fetch, for driving a real app over real
 * HTTP. It keeps cookies per client (one browser), follows no redirects by itself, and exposes
 * the raw Set-Cookie lines so tests can check attributes.
 */
export class TestClient {
  lastSetCookies: string[] = [];

  /** @param jar cookies, shareable between clients of several servers (one browser behind a load balancer) */
  constructor(
    readonly baseUrl: string,
    readonly jar = new Map<string, string>(),
  ) {}

  async request(path: string, init: RequestInit & { json?: unknown } = {}): Promise<TestResponse> {
    const headers = new Headers(init.headers);
    if (this.jar.size > 0 && !headers.has('cookie')) {
      headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    const response = await fetch(this.baseUrl + path, { ...init, headers, body, redirect: 'manual' });
    this.lastSetCookies = response.headers.getSetCookie();
    for (const line of this.lastSetCookies) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const cleared = /;\s*max-age=0/i.test(line) || value === '';
      if (cleared) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    const text = await response.text();
    return new TestResponse(response.status, response.headers, text, this.lastSetCookies);
  }

  get(path: string, init: RequestInit = {}): Promise<TestResponse> {
    return this.request(path, { ...init, method: 'GET' });
  }

  post(path: string, json?: unknown, init: RequestInit = {}): Promise<TestResponse> {
    return this.request(path, { ...init, method: 'POST', json });
  }
}

export class TestResponse {
  constructor(
    readonly status: number,
    readonly headers: Headers,
    readonly text: string,
    readonly setCookies: string[],
  ) {}

  json<T = any>(): T {
    return JSON.parse(this.text) as T;
  }

  /** The Set-Cookie line for `name`, if the response set one. */
  cookie(name: string): string | undefined {
    return this.setCookies.find((line) => line.startsWith(`${name}=`));
  }
}
