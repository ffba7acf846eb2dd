import type { IncomingMessage } from 'node:http';
import { toRawRequest } from '../session/session-context.util.js';

/** The form media type a provider posts the logout token with (OpenID Back-Channel Logout 1.0 §2.5). */
const FORM = 'application/x-www-form-urlencoded';

/** Most bytes of a form read here: a logout token is a signed JWT of a few hundred bytes to a few KiB. */
const MAX_FORM_BYTES = 64 * 1024;

/**
 * The `logout_token` of the provider's back-channel post, on Express or Fastify, whoever parsed
 * the body:
 * - the platform's parser (Nest's default on both: Express's `urlencoded`, Fastify's own), or an app's
 *   (`@fastify/formbody`, `app.useBodyParser()`): an object, whose `logout_token` is taken;
 * - a parser that kept the form as text or bytes ({@link acceptFormPostsOnFastify} on Fastify, a raw
 *   parser): parsed here, up to 64 KiB;
 * - no parser at all (`bodyParser: false` on Express): the form is read from the request here,
 *   up to 64 KiB.
 *
 * A form beyond 64 KiB that this code parses is refused (400): a logout token is far smaller.
 *
 * Anything but exactly one non-empty field is given back as is (`undefined` or a list), and the
 * handler refuses it (400).
 * @internal
 */
export async function readLogoutToken(req: object): Promise<unknown> {
  const body = (req as { body?: unknown }).body;
  if (typeof body === 'string') return Buffer.byteLength(body) > MAX_FORM_BYTES ? undefined : formField(body);
  if (body instanceof Uint8Array) {
    return body.byteLength > MAX_FORM_BYTES
      ? undefined
      : formField(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  }
  if (typeof body === 'object' && body !== null) {
    return Object.hasOwn(body, 'logout_token') ? (body as { logout_token?: unknown }).logout_token : undefined;
  }
  const raw = toRawRequest(req);
  if (!isForm(raw) || raw.readableDidRead || raw.readableEnded) return undefined;
  const text = await readText(raw);
  return text === undefined ? undefined : formField(text);
}

function isForm(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return typeof type === 'string' && type.split(';', 1)[0].trim().toLowerCase() === FORM;
}

/** The one `logout_token` field of a form; a list when it has several (refused like a missing one). */
function formField(text: string): string | string[] | undefined {
  const values = new URLSearchParams(text).getAll('logout_token');
  return values.length === 1 ? values[0] : values.length === 0 ? undefined : values;
}

/** The request body as UTF-8, or `undefined` when it is over {@link MAX_FORM_BYTES} (the rest is drained). */
function readText(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_FORM_BYTES) chunks.push(chunk);
    });
    req.once('end', () => resolve(size <= MAX_FORM_BYTES ? Buffer.concat(chunks).toString('utf8') : undefined));
    req.once('error', reject);
  });
}

/** The part of a Fastify instance {@link acceptFormPostsOnFastify} uses (typed here: the package imports nothing of Fastify). */
interface FastifyInstanceLike {
  register(plugin: (instance: FastifyInstanceLike, options: unknown, done: () => void) => void): unknown;
  hasContentTypeParser(type: string): boolean;
  addContentTypeParser(
    type: string,
    options: { parseAs: 'string' },
    parser: (request: unknown, body: string, done: (err: Error | null, body?: unknown) => void) => void,
  ): unknown;
}

/**
 * Make Fastify accept the provider's form post when the app has no parser for
 * `application/x-www-form-urlencoded` (Nest registers one unless the app is created with
 * `bodyParser: false`; Fastify answers 415 to a media type it has no parser for, before any
 * route runs). The body is then kept as text (within Fastify's `bodyLimit`) for
 * {@link readLogoutToken} to parse, so no form-parsing dependency is needed; other routes see
 * that text as their body. Done by a plugin on the root instance (as `fastify-plugin` would),
 * so a parser the app registered earlier (`@fastify/formbody`) is found and left in place.
 * @internal
 */
export function acceptFormPostsOnFastify(instance: unknown): void {
  const fastify = instance as Partial<FastifyInstanceLike> | undefined;
  if (typeof fastify?.register !== 'function') return;
  const plugin = (root: FastifyInstanceLike, _options: unknown, done: () => void): void => {
    if (!root.hasContentTypeParser(FORM)) {
      root.addContentTypeParser(FORM, { parseAs: 'string' }, (_request, body, parsed) => parsed(null, body));
    }
    done();
  };
  Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'nest-sessions/auth' });
  fastify.register(plugin);
}
