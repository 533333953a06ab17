// The requests made before joining, each on a socket of its own: what a
// meeting is (the pre-join page) and a new meeting (the home page).
import type { ServerEvent } from "./protocol";
import { Signaling, SignalingOptions } from "./signaling";
import type { TokenStore } from "./tokens";

// lookupMeeting asks what a meeting is before joining it (PROTOCOL.md,
// lookup): whether it is open, who is in, how this person would enter.
export async function lookupMeeting(
  wsUrl: string,
  code: string,
  who: { token?: string | null; guest?: string },
  opts: Omit<SignalingOptions, "url"> = {},
): Promise<Extract<ServerEvent, { type: "meeting" }>> {
  const sig = new Signaling({ ...opts, url: wsUrl });
  try {
    await sig.connect();
    const reply = await sig.request({
      action: "lookup",
      code,
      ...(who.token ? { token: who.token } : {}),
      ...(who.guest ? { guest: who.guest } : {}),
    }, 10_000);
    if (reply.type !== "meeting") throw new Error(`unexpected reply ${reply.type}`);
    return reply;
  } finally {
    sig.close();
  }
}

// createMeeting asks for a new meeting and keeps its host token.
export async function createMeeting(wsUrl: string, tokens: TokenStore, opts: Omit<SignalingOptions, "url"> = {}): Promise<string> {
  const sig = new Signaling({ ...opts, url: wsUrl });
  try {
    await sig.connect();
    const reply = await sig.request({ action: "create" });
    if (reply.type !== "created") throw new Error(`unexpected reply ${reply.type}`);
    tokens.set(reply.code, reply.hostToken, true);
    return reply.code;
  } finally {
    sig.close();
  }
}
