/**
 * The flash message of one request: what the previous request left (`incoming`, readable once)
 * and what this request leaves for the next (`pending`, written to the store at commit).
 *
 * The pending value is derived, never copied: the unread part of the incoming flash (or what
 * `set()` replaced it with), plus the keyed messages `add()`ed since. So reading a message removes
 * it from what is stored whatever order reads and writes come in.
 *
 * @internal
 */
export class FlashBag {
  /** Keys of the incoming flash read so far; `true` once it was read whole. */
  private consumed: Set<string> | true | undefined;
  /** What `set()` replaced the unread incoming flash with. */
  private replaced: { value: unknown } | undefined;
  /** Keyed messages added since the last `set()`. */
  private added: Array<[type: string, message: unknown]> = [];
  private changed = false;

  /** @param incoming the decoded flash the store held, or `undefined` */
  constructor(private readonly incoming: unknown) {}

  /** Whether anything happened that may change the stored value since the last save. */
  get hasChanged(): boolean {
    return this.changed;
  }

  /** The value to store for the next request; `undefined` removes it. */
  get pending(): unknown {
    const base = this.replaced ? this.replaced.value : this.unread();
    if (this.added.length === 0) return base;
    const result: Record<string, unknown> = isRecord(base) ? { ...base } : {};
    for (const [type, message] of this.added) {
      const list = Object.hasOwn(result, type) ? result[type] : undefined;
      setOwn(result, type, Array.isArray(list) ? [...(list as unknown[]), message] : list === undefined ? [message] : [list, message]);
    }
    return result;
  }

  /**
   * Read the incoming flash, or one key of it when it is an object, and remove what was read so
   * no later request sees it again. A flash set during this request is not visible here.
   */
  consume(key?: string): unknown {
    const consumed = this.consumed;
    if (consumed === true || this.incoming === undefined) return undefined;
    if (key === undefined) {
      const value = this.unread();
      this.consumed = true;
      this.changed = true;
      return value;
    }
    if (!isRecord(this.incoming) || !Object.hasOwn(this.incoming, key) || consumed?.has(key)) return undefined;
    this.consumed = (consumed ?? new Set<string>()).add(key);
    this.changed = true;
    return this.incoming[key];
  }

  /** Leave `value` for the next request, replacing anything not read yet. */
  set(value: unknown): void {
    this.replaced = { value };
    this.added = [];
    this.changed = true;
  }

  /** Add `message` under `type` (e.g. `'success'`), keeping other unread keyed messages. */
  add(type: string, message: unknown): void {
    this.added.push([type, message]);
    this.changed = true;
  }

  /** The pending value was written; only later changes need writing. */
  markSaved(): void {
    this.changed = false;
  }

  /** The part of the incoming flash not read yet. */
  private unread(): unknown {
    const { incoming, consumed } = this;
    if (consumed === true) return undefined;
    if (consumed === undefined || !isRecord(incoming)) return incoming;
    const rest: Record<string, unknown> = {};
    for (const key of Object.keys(incoming)) if (!consumed.has(key)) setOwn(rest, key, incoming[key]);
    return Object.keys(rest).length > 0 ? rest : undefined;
  }
}

/** `target[key] = value` as an own property, also for `__proto__` (which would otherwise change the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
