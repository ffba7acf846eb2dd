import { io, type Socket as IoSocket } from 'socket.io-client';
import WebSocket from 'ws';

/** The WebSocket platforms gateway suites run on. */
export type WsPlatform = 'socket.io' | 'socket.io (polling)' | 'ws';

/** For `describe.each(WS_PLATFORMS)`. */
export const WS_PLATFORMS: Array<[WsPlatform]> = [['socket.io'], ['socket.io (polling)'], ['ws']];

/** One event a gateway sent to the client: its name and payload. */
export interface WsEvent {
  event: string;
  data: any;
}

/** How a handshake went: open, or refused with an HTTP status (`ws`) or a `connect_error` (socket.io). */
export type Handshake = { ok: true; client: WsTestClient } | { ok: false; status?: number; message: string };

/**
 * A real WebSocket client of either platform (socket.io-client, or `ws`), connected over loopback
 * with the headers a browser would send (`Cookie`, `Origin`). Events are queued as they arrive, so
 * a test can send and then wait for the reply or the refusal, whichever comes.
 */
export class WsTestClient {
  private readonly queue: WsEvent[] = [];
  private readonly waiters: Array<{ events: string[]; resolve: (event: WsEvent) => void }> = [];
  private closedResolve!: (code: number | string) => void;
  /** Resolves when the server closes the socket (a `ws` close code, or socket.io's disconnect reason). */
  readonly closed = new Promise<number | string>((resolve) => (this.closedResolve = resolve));

  private constructor(
    readonly platform: WsPlatform,
    private readonly socket: IoSocket | WebSocket,
  ) {
    if (socket instanceof WebSocket) {
      socket.on('message', (raw) => this.push(JSON.parse(String(raw)) as WsEvent));
      socket.on('close', (code) => this.closedResolve(code));
    } else {
      socket.onAny((event: string, data: unknown) => this.push({ event, data }));
      socket.on('disconnect', (reason) => this.closedResolve(reason));
    }
  }

  /** Open a socket to the app at `baseUrl` (`http://127.0.0.1:port`). */
  static connect(platform: WsPlatform, baseUrl: string, headers: Record<string, string | undefined> = {}): Promise<Handshake> {
    const extraHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) if (value) extraHeaders[name] = value;
    if (platform === 'ws') {
      return new Promise((resolve) => {
        const socket = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/', { headers: extraHeaders });
        socket.once('open', () => resolve({ ok: true, client: new WsTestClient(platform, socket) }));
        socket.once('unexpected-response', (_req, res) => {
          resolve({ ok: false, status: res.statusCode, message: res.statusMessage ?? '' });
          res.resume();
          socket.terminate();
        });
        socket.once('error', (error) => resolve({ ok: false, message: error.message }));
      });
    }
    return new Promise((resolve) => {
      // Over HTTP long-polling the handshake is an ordinary GET, and so is every message.
      const transports = platform === 'socket.io' ? ['websocket'] : ['polling'];
      const socket = io(baseUrl, { transports, extraHeaders, reconnection: false, forceNew: true });
      socket.once('connect', () => resolve({ ok: true, client: new WsTestClient(platform, socket) }));
      socket.once('connect_error', (error) => {
        socket.close();
        resolve({ ok: false, message: error.message });
      });
    });
  }

  /** Connect and fail the test when the handshake is refused. */
  static async open(platform: WsPlatform, baseUrl: string, headers: Record<string, string | undefined> = {}): Promise<WsTestClient> {
    const handshake = await WsTestClient.connect(platform, baseUrl, headers);
    if (!handshake.ok) throw new Error(`handshake refused: ${handshake.status ?? ''} ${handshake.message}`);
    return handshake.client;
  }

  send(event: string, data: unknown = {}): void {
    if (this.socket instanceof WebSocket) this.socket.send(JSON.stringify({ event, data }));
    else this.socket.emit(event, data);
  }

  /** The next event named one of `events` (others stay queued). */
  next(...events: string[]): Promise<WsEvent> {
    const index = this.queue.findIndex((item) => events.includes(item.event));
    if (index >= 0) return Promise.resolve(this.queue.splice(index, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${events.join(' or ')} event within 5 s`)), 5000);
      this.waiters.push({
        events,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      });
    });
  }

  /** Send `event` and wait for its reply (an event of the same name) or a refusal (`exception`). */
  async request(event: string, data: unknown = {}): Promise<WsEvent> {
    this.send(event, data);
    return this.next(event, 'exception');
  }

  close(): void {
    this.socket.close();
  }

  private push(item: WsEvent): void {
    const index = this.waiters.findIndex((waiter) => waiter.events.includes(item.event));
    if (index >= 0) this.waiters.splice(index, 1)[0].resolve(item);
    else this.queue.push(item);
  }
}
