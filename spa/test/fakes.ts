import type { SocketLike } from "../src/client/signaling";

// FakeSocket is a WebSocket the test drives: what the client sent, and
// open/drop/receive from the server's side.
export class FakeSocket implements SocketLike {
  readyState = 0;
  sent: Record<string, any>[] = [];
  onopen: SocketLike["onopen"] = null;
  onclose: SocketLike["onclose"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onerror: SocketLike["onerror"] = null;
  send(d: string) { this.sent.push(JSON.parse(d)); }
  close() { this.readyState = 3; }
  open() { this.readyState = 1; this.onopen?.({}); }
  drop(code = 1006) { this.readyState = 3; this.onclose?.({ code, reason: "" }); }
  receive(ev: object) { this.onmessage?.({ data: JSON.stringify(ev) }); }
}
