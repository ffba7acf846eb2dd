/**
 * The flash message of one request: what the previous request left (`incoming`, readable once)
 * and what this request leaves for the next (`next`, written to the store at commit).
 *
 * @internal
 */
export class FlashBag {
  private incoming: unknown;
  private next: unknown;
  private changed = false;

  /** @param incoming the decoded flash the store held, or `undefined` */
  constructor(incoming: unknown) {
    this.incoming = incoming;
    this.next = incoming;
  }

  /** Whether the value to store differs from the one loaded. */
  get hasChanged(): boolean {
    return this.changed;
  }

  /** The value to store for the next request; `undefined` removes it. */
  get pending(): unknown {
    return this.next;
  }

  /**
   * Read the incoming flash, or one key of it when it is an object, and remove what was read so
   * no later request sees it again. A flash set during this request is not visible here.
   */
  consume(key?: string): unknown {
    const value = this.incoming;
    if (value === undefined) return undefined;
    if (key === undefined) {
      this.incoming = undefined;
      if (this.next === value) this.setNext(undefined);
      return value;
    }
    if (!isRecord(value) || !Object.hasOwn(value, key)) return undefined;
    const { [key]: picked, ...rest } = value;
    const remaining = Object.keys(rest).length > 0 ? rest : undefined;
    if (this.next === value) this.setNext(remaining);
    this.incoming = remaining;
    return picked;
  }

  /** Leave `value` for the next request, replacing anything not read yet. */
  set(value: unknown): void {
    this.setNext(value);
  }

  /** Add `message` under `type` (e.g. `'success'`), keeping other unread keyed messages. */
  add(type: string, message: unknown): void {
    const base = isRecord(this.next) ? this.next : {};
    const list = base[type];
    const messages = Array.isArray(list) ? [...list, message] : list === undefined ? [message] : [list, message];
    this.setNext({ ...base, [type]: messages });
  }

  /** The pending value was written; later changes are compared against it. */
  markSaved(): void {
    this.changed = false;
  }

  private setNext(value: unknown): void {
    this.next = value;
    this.changed = true;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
