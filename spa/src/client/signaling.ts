import type { ClientMessage, ErrorEvent, ServerEvent } from "./protocol";
import { Emitter } from "./emitter";
import { BackoffOptions, defaultBackoff, reconnectDelay } from "./backoff";

// What Signaling needs of a WebSocket; tests pass a fake.
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type SocketFactory = (url: string) => SocketLike;

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

// A message without its id: Signaling assigns ids.
export type Outgoing = ClientMessage extends infer M ? (M extends ClientMessage ? Omit<M, "id"> : never) : never;

export class RequestError extends Error {
  constructor(
    readonly code: ErrorEvent["code"] | "timeout" | "offline",
    message: string,
    readonly event?: ErrorEvent,
  ) {
    super(message);
    this.name = "RequestError";
  }
}

export interface SignalingOptions {
  url: string;
  socketFactory?: SocketFactory;
  // API Gateway drops a WebSocket idle for 10 minutes; ping well inside that.
  pingIntervalMs?: number;
  requestTimeoutMs?: number;
  backoff?: BackoffOptions;
  random?: () => number;
}

interface Pending {
  resolve: (e: ServerEvent) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

type SignalingEvents = {
  event: ServerEvent;
  state: ConnectionState;
  // After a reconnect (not the first connect): the owner rejoins with its token.
  reconnected: void;
};

const OPEN = 1;

// Signaling is the WebSocket half of the client: request/response
// correlation by id, keepalive, and reconnect with backoff. It knows nothing
// of meetings; MeetingClient builds on it.
export class Signaling extends Emitter<SignalingEvents> {
  private socket: SocketLike | null = null;
  private pending = new Map<string, Pending>();
  private nextId = 1;
  private attempt = 0;
  private everOpened = false;
  private stopped = false;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private firstOpen: { resolve: () => void; reject: (e: Error) => void } | null = null;
  state: ConnectionState = "closed";
  private readonly opts: Required<SignalingOptions>;

  constructor(opts: SignalingOptions) {
    super();
    this.opts = {
      socketFactory: (url) => new WebSocket(url) as unknown as SocketLike,
      pingIntervalMs: 4 * 60_000,
      requestTimeoutMs: 15_000,
      backoff: defaultBackoff,
      random: Math.random,
      ...opts,
    };
  }

  // connect resolves once the first socket opens; it rejects if that first
  // attempt fails (the page then says the service is unreachable). Later drops
  // reconnect on their own.
  connect(): Promise<void> {
    this.stopped = false;
    return new Promise((resolve, reject) => {
      this.firstOpen = { resolve, reject };
      this.open();
    });
  }

  // request sends msg and resolves with the event that names its id, or
  // rejects with the error event that does.
  request(msg: Outgoing, timeoutMs = this.opts.requestTimeoutMs): Promise<ServerEvent> {
    return this.requestWithId(msg, timeoutMs).reply;
  }

  // requestWithId is request, also saying which id the message went with
  // (a caller that must tell its latest request's reply from older ones).
  requestWithId(msg: Outgoing, timeoutMs = this.opts.requestTimeoutMs): { id: string; reply: Promise<ServerEvent> } {
    const id = `r${this.nextId++}`;
    return { id, reply: this.send1(id, msg, timeoutMs) };
  }

  private send1(id: string, msg: Outgoing, timeoutMs: number): Promise<ServerEvent> {
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== OPEN) {
        reject(new RequestError("offline", "not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError("timeout", `${msg.action}: no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ ...msg, id }));
    });
  }

  // send is fire-and-forget (ICE candidates): returns false when offline.
  send(msg: Outgoing): boolean {
    if (!this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify({ ...msg, id: `s${this.nextId++}` }));
    return true;
  }

  // moveTo connects to another endpoint (the region a meeting lives in):
  // the current socket closes and a new one opens there; it resolves when
  // the new one is open.
  moveTo(url: string): Promise<void> {
    (this.opts as { url: string }).url = url;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = s.onmessage = s.onerror = s.onopen = null;
      s.close(1000, "moving");
    }
    this.stopPing();
    this.failPending(new RequestError("offline", "moving to another region"));
    if (this.retryTimer) clearTimeout(this.retryTimer);
    return new Promise((resolve, reject) => {
      this.firstOpen = { resolve, reject };
      this.open();
    });
  }

  get url(): string {
    return this.opts.url;
  }

  close(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.stopPing();
    this.failPending(new RequestError("offline", "closed"));
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = s.onmessage = s.onerror = s.onopen = null;
      s.close(1000, "bye");
    }
    this.setState("closed");
  }

  private open(): void {
    this.setState(this.everOpened ? "reconnecting" : "connecting");
    let s: SocketLike;
    try {
      s = this.opts.socketFactory(this.opts.url);
    } catch (err) {
      this.onDrop(err instanceof Error ? err.message : String(err));
      return;
    }
    this.socket = s;
    s.onopen = () => {
      this.attempt = 0;
      const wasReconnect = this.everOpened;
      this.everOpened = true;
      this.setState("open");
      this.startPing();
      this.firstOpen?.resolve();
      this.firstOpen = null;
      if (wasReconnect) this.emit("reconnected", undefined);
    };
    s.onmessage = (ev) => this.onMessage(ev.data);
    s.onerror = () => {}; // onclose follows and carries the decision
    s.onclose = (ev) => {
      if (this.socket !== s) return;
      this.socket = null;
      this.onDrop(`closed (${ev.code})`);
    };
  }

  private onDrop(why: string): void {
    this.stopPing();
    // Replies to requests on the dead socket will never come.
    this.failPending(new RequestError("offline", `connection lost: ${why}`));
    if (this.stopped) return;
    if (!this.everOpened && this.firstOpen) {
      this.firstOpen.reject(new Error(`Can't reach the meeting service (connection ${why}). Check your connection and try again.`));
      this.firstOpen = null;
      this.setState("closed");
      return;
    }
    const delay = reconnectDelay(this.attempt++, this.opts.backoff, this.opts.random);
    this.setState("reconnecting");
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private onMessage(data: unknown): void {
    let ev: ServerEvent;
    try {
      ev = JSON.parse(String(data));
    } catch {
      console.warn("veet: ignoring a non-JSON frame");
      return;
    }
    if (!ev || typeof ev !== "object" || typeof ev.type !== "string") return;
    const p = ev.id ? this.pending.get(ev.id) : undefined;
    if (p && ev.id) {
      this.pending.delete(ev.id);
      clearTimeout(p.timer);
      if (ev.type === "error") p.reject(new RequestError(ev.code, ev.message, ev));
      else p.resolve(ev);
    }
    // Every event also goes to listeners: a reply can carry state the room
    // model needs (joined, snapshot), and media answers are handled there.
    this.emit("event", ev);
  }

  private failPending(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }

  // startPing keeps the socket inside API Gateway's idle timeout and finds
  // a dead one: after a sleep or a network change the browser may not report
  // a close for minutes, so a ping nobody answers counts as a drop.
  private startPing(): void {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      const s = this.socket;
      this.request({ action: "ping" }).catch((err) => {
        if (err instanceof RequestError && err.code === "timeout" && this.socket === s && s) {
          s.onclose = s.onmessage = s.onerror = s.onopen = null;
          s.close(4000, "no pong");
          this.socket = null;
          this.onDrop("no answer to a ping");
        }
      });
    }, this.opts.pingIntervalMs);
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private setState(s: ConnectionState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit("state", s);
  }
}
