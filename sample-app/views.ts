/**
 * HTML for the sample app, written as template literals. Every value interpolated through
 * {@link html} is escaped unless it is itself the output of {@link html}, so a page cannot be
 * broken (or scripted) by what a visitor types.
 */

/** A fragment of markup that is already safe to insert as-is. */
export class SafeHtml {
  constructor(readonly value: string) {}

  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escape text for use in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ENTITIES[char]!);
}

function interpolate(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(interpolate).join('');
  // Leaving out "nothing" lets templates write `${condition && html`...`}`.
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

/**
 * Tagged template that escapes every interpolated value; nested `html` fragments and arrays of
 * them are inserted as markup.
 * @example html`<p>${userInput}</p>`
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, index) => {
    out += interpolate(value) + strings[index + 1]!;
  });
  return new SafeHtml(out);
}

/** Flash messages by type, as `session.flash(type, message)` accumulates them. */
export interface FlashMessages {
  success?: string[];
  error?: string[];
  info?: string[];
}

/** What the home page shows. */
export interface HomePage {
  visits: number;
  flash?: FlashMessages;
  messages: readonly string[];
  /** Longest message the server accepts. */
  maxLength: number;
}

function layout(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  .flash { padding: .5rem 1rem; border-radius: .25rem; margin: .5rem 0; }
  .flash-success { background: #e6f4ea; } .flash-error { background: #fce8e6; } .flash-info { background: #e8f0fe; }
</style>
</head>
<body>
${body}
</body>
</html>
`.value;
}

function flashList(flash: FlashMessages | undefined): SafeHtml {
  if (!flash) return html``;
  const types = ['error', 'success', 'info'] as const;
  return html`${types.map((type) =>
    (flash[type] ?? []).map((message) => html`<p class="flash flash-${type}" role="status">${message}</p>`),
  )}`;
}

/** The home page: visit counter, flash messages, the message form and the logout button. */
export function renderHome(page: HomePage): string {
  return layout(
    'nest-sessions sample',
    html`<h1>nest-sessions sample</h1>
${flashList(page.flash)}
<p>You have visited this page <strong id="visits">${page.visits}</strong> ${page.visits === 1 ? 'time' : 'times'} in this session.</p>
<form method="post" action="/message">
  <label for="message">Leave a message</label>
  <input id="message" name="message" type="text" maxlength="${page.maxLength}">
  <button type="submit">Send</button>
</form>
${page.messages.length > 0 && html`<h2>Your messages</h2>
<ul>${page.messages.map((message) => html`<li>${message}</li>`)}</ul>`}
<form method="post" action="/logout">
  <button type="submit">Log out (end the session)</button>
</form>`,
  );
}
