import type { Emoji, Participant, ParticipantID, PresenceChange, Role, ServerEvent, Source, Track } from "./protocol";
import { ChatLog } from "./chat";
import { Emitter } from "./emitter";
import { RoomState } from "./roomState";
import { ConnectionState, RequestError, Signaling, SignalingOptions } from "./signaling";
import { LocalTracks, MediaSession, newSessionId } from "./media";
import type { TokenStore } from "./tokens";
import { VideoSizes } from "./videoSizes";

export type Phase =
  | { kind: "idle" }
  | { kind: "connecting" }
  | { kind: "lobby"; title: string; moderators: number }
  | { kind: "joined" }
  | { kind: "left" }
  | { kind: "cancelled" }
  | { kind: "removed" }
  | { kind: "replaced" }
  | { kind: "banned" }
  | { kind: "denied"; retryAfterMs: number }
  | { kind: "ended"; byYou: boolean }
  | { kind: "failed"; code: string; message: string };

type MeetingEvents = {
  phase: Phase;
  room: RoomState;
  connection: ConnectionState;
  mutedByHost: { source: Source; by: ParticipantID; byName: string };
  remoteTrack: { trackId: string; track: MediaStreamTrack };
  notice: string;
  // Media stopped arriving although the connections claim to be up (true),
  // or flows again (false).
  stall: boolean;
  // Someone was made co-host because the last host and co-host left.
  handover: Participant;
  // The chat log changed (a message, a history page).
  chat: void;
  // Someone reacted (ours too, at once).
  reaction: { participantId: ParticipantID; emoji: Emoji };
};

export interface JoinOptions {
  name: string;
  micOn: boolean;
  camOn: boolean;
  tracks: LocalTracks;
}

export interface MeetingClientOptions extends Omit<SignalingOptions, "url"> {
  wsUrl: string;
  code: string;
  tokens: TokenStore;
  rtcConfig?: RTCConfiguration;
  // How to get a fresh camera track when the camera is turned back on.
  getCamera?: () => Promise<MediaStreamTrack>;
  // The key this browser knocks with (tokens.guestKey).
  guest?: string;
  // How often the media is checked for a stall (ms); 0 = never.
  stallCheckMs?: number;
  // Every region's WebSocket API (RuntimeConfig.regions): a join answered
  // wrong_region moves there.
  regions?: { region: string; wsUrl: string }[];
}

// Events a media node sends: they carry the room's placement epoch and,
// when they concern our media, its session.
const nodeEvents = new Set(["publish_answer", "subscribe_offer", "candidate", "tracks", "active_speakers", "media_reconnect", "rejoin", "publish_layers"]);

// Refusals a rejoin waits out rather than ending the meeting.
const retryable = new Set(["timeout", "unavailable", "internal", "rate_limited", "flooding"]);

const moderates = (r: string | undefined) => r === "host" || r === "cohost";

// A human sentence for each refusal a join can meet.
const joinErrors: Record<string, string> = {
  not_found: "This meeting doesn't exist. Check the code and try again.",
  locked: "This meeting is locked. Ask a host to unlock it.",
  too_soon: "You were turned away a moment ago. Wait a little before asking again.",
  unauthorized: "Your link for this meeting is no longer valid.",
  unavailable: "No media server is available right now. Try again in a minute.",
  rate_limited: "Too many attempts. Wait a moment and try again.",
  full: "This meeting is full. Try again when someone leaves.",
  lobby_full: "Too many people are waiting to join this meeting. Try again in a little while.",
};

// MeetingClient is one person in one meeting: it joins (knocking when it has
// no token), keeps the room state, runs the media, rejoins after a dropped
// connection and exposes the moderation actions. The UI only renders it.
export class MeetingClient extends Emitter<MeetingEvents> {
  // A gap in the room's deltas that outlives the hold-back asks for a
  // snapshot (the RoomState decides when).
  readonly room = new RoomState({ onResync: () => this.sig.request({ action: "resync" }).catch(() => this.room.resyncFailed()) });
  readonly sig: Signaling;
  // What was said in the meeting: kept across rejoins, filled from the
  // server's history after each join.
  readonly chat = new ChatLog();
  media: MediaSession | null = null;
  // How large we draw each video we receive, for the node (the UI says).
  readonly sizes = new VideoSizes((session, sizes) => this.sig.send({ action: "video_sizes", session, sizes }));
  // The session being replaced while the room migrates between nodes: it
  // keeps playing until the new one receives the same (make-before-break).
  private retiring: MediaSession | null = null;
  you: Participant | null = null;
  // epoch is the room's placement epoch we joined at: node events of an
  // older one come from a node that no longer owns the room.
  epoch = 0;
  phase: Phase = { kind: "idle" };
  micOn = false;
  camOn = false;
  private joinOpts: JoinOptions | null = null;
  private screen: MediaStreamTrack | null = null;
  // Between a join request and its joined reply, media events wait here:
  // the Lambda tells the SFU before it replies, so the SFU's first
  // subscribe_offer can overtake the reply, and without a session (or with
  // the one a re-join is about to rebuild) it would be lost until the SFU
  // resends it seconds later.
  private awaitingJoined = false;
  private earlyMedia: ServerEvent[] = [];
  // The media session the join in flight is for.
  private joinSession = "";
  // The join in flight follows a draining node's migrate: keep the old
  // session until the new one carries media.
  private migrating = false;

  constructor(private readonly opts: MeetingClientOptions) {
    super();
    this.sig = new Signaling({ ...opts, url: opts.wsUrl });
    this.sig.on("event", (ev) => this.onEvent(ev));
    this.sig.on("state", (s) => this.emit("connection", s));
    this.sig.on("reconnected", () => void this.rejoin());
  }

  get code(): string {
    return this.opts.code;
  }

  get isModerator(): boolean {
    const r = this.you && this.room.participants.get(this.you.id)?.role;
    return r === "host" || r === "cohost";
  }

  get isHost(): boolean {
    return !!this.you && this.room.participants.get(this.you.id)?.role === "host";
  }

  async join(o: JoinOptions): Promise<void> {
    this.joinOpts = o;
    this.micOn = o.micOn && !!o.tracks.microphone;
    this.camOn = o.camOn && !!o.tracks.camera;
    this.setPhase({ kind: "connecting" });
    try {
      if (this.sig.state !== "open") await this.sig.connect();
      await this.sendJoin().catch(async (err) => {
        // The meeting lives in another region: join it there.
        const to = err instanceof RequestError && err.code === "wrong_region" ? this.endpointOf(err.event?.region) : "";
        if (!to || to === this.sig.url) throw err;
        await this.sig.moveTo(to);
        await this.sendJoin();
      });
    } catch (err) {
      this.fail(err);
    }
  }

  private endpointOf(region: string | undefined): string {
    return this.opts.regions?.find((r) => r.region === region)?.wsUrl ?? "";
  }

  // sendJoin joins with the stored token, or knocks without one, for a
  // media session: the current one (keep the media as it is) unless told
  // otherwise.
  private async sendJoin(session = this.media?.id ?? newSessionId()): Promise<void> {
    const o = this.joinOpts!;
    const token = this.opts.tokens.get(this.code) ?? undefined;
    this.awaitingJoined = true;
    this.earlyMedia = [];
    this.joinSession = session;
    // Joining again with the session we have: ask to keep its media. A node
    // that lacks it says so (media_reconnect naming it) and we start anew.
    const resume = !!this.media && !this.media.isClosed && this.media.id === session;
    const reply = await this.sig.request({
      action: "join",
      code: this.code,
      name: o.name,
      micOn: this.micOn,
      camOn: this.camOn,
      session,
      ...(resume ? { resume } : {}),
      ...(token ? { token } : { ...(this.opts.guest ? { guest: this.opts.guest } : {}) }),
    });
    if (reply.type === "lobby_waiting") {
      this.setPhase({ kind: "lobby", title: reply.title, moderators: reply.moderators ?? 0 });
      // Knock again now and then: it refreshes how many can let us in, and
      // puts us back in a lobby that Redis lost. The hosts hear a knock once.
      this.knockTimer ??= setInterval(() => {
        if (this.phase.kind === "lobby" && !this.awaitingJoined) this.sendJoin().catch(() => {});
      }, 15_000);
    }
    // "joined" is handled in onEvent, for replies and re-joins alike.
  }

  private knockTimer: ReturnType<typeof setInterval> | null = null;

  private stopKnocking(): void {
    if (this.knockTimer) clearInterval(this.knockTimer);
    this.knockTimer = null;
  }

  private async onJoined(ev: Extract<ServerEvent, { type: "joined" }>): Promise<void> {
    this.stopKnocking();
    this.you = ev.you;
    this.opts.tokens.set(this.code, ev.token, moderates(ev.you.role));
    this.rejoinSince = 0;
    this.epoch = Math.max(this.epoch, ev.epoch ?? 0);
    this.setPhase({ kind: "joined" });
    this.emit("room", this.room);
    this.startStallWatch();
    void this.syncChat();
    const session = ev.session ?? this.joinSession;
    const early = this.earlyMedia.filter((e) => !e.session || e.session === session);
    this.awaitingJoined = false;
    this.earlyMedia = [];
    const cur = this.media;
    if (cur && cur.id === session && cur.epoch === (ev.epoch ?? 0)) {
      // The same session on the same placement (a new socket, a rebuilt
      // meeting): the media is as it was; the node hears our sizes again.
      for (const e of early) cur.handle(e);
      return this.sizes.again();
    }
    const next = new MediaSession(this.sig, this.publishedTracks(), this.opts.rtcConfig, session, ev.epoch ?? 0);
    next.on("remoteTrack", (t) => this.emit("remoteTrack", t));
    next.on("offered", (t) => next === this.media && this.sizes.forward(next.id, t));
    next.on("error", (e) => this.emit("notice", e.message));
    next.on("failed", () => {
      if (next === this.media && !this.awaitingJoined) void this.rejoin(newSessionId());
    });
    this.media = next;
    this.sizes.forward(next.id, []);
    if (cur) {
      if (this.migrating) this.retire(cur);
      else cur.close();
    }
    this.migrating = false;
    const started = next.start();
    for (const e of early) next.handle(e);
    await started;
  }

  // retire keeps an old session playing until the new one receives what it
  // did (plus a moment for keyframes), then closes it; after 10 s it closes
  // whatever happens.
  private retire(old: MediaSession): void {
    this.retiring?.close();
    this.retiring = old;
    const since = Date.now();
    let readyAt = 0;
    const check = () => {
      const cur = this.media;
      if (old !== this.retiring || old.isClosed) return;
      if (cur && !cur.isClosed && cur.receivesAll(old)) readyAt ||= Date.now();
      if ((readyAt && Date.now() - readyAt >= 1000) || Date.now() - since >= 10_000 || !cur) {
        old.close();
        this.retiring = null;
        this.emit("room", this.room);
        return;
      }
      setTimeout(check, 200);
    };
    setTimeout(check, 200);
  }

  // The stall watch: media that should arrive (an unmuted track of someone
  // else is forwarded to us) and does not, while the connections claim to
  // be up. After two seconds it says so (the reconnecting banner); after
  // five it starts a new media session, as if told media_reconnect: the
  // push that should have told us may have been lost.
  private stallTimer: ReturnType<typeof setInterval> | null = null;
  private stallFrom = { packets: -1, since: 0, stalled: false, restarted: false };

  private startStallWatch(): void {
    const every = this.opts.stallCheckMs ?? 1000;
    if (this.stallTimer || every <= 0) return;
    this.stallTimer = setInterval(() => void this.checkStall(), every);
  }

  private stopStallWatch(): void {
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.stallTimer = null;
    if (this.stallFrom.stalled) this.emit("stall", false);
    this.stallFrom = { packets: -1, since: 0, stalled: false, restarted: false };
  }

  private async checkStall(): Promise<void> {
    const media = this.media;
    const pc = media?.subscribePC;
    // A video we do not show, the node does not send (video_sizes).
    const shown = this.sizes.shownTracks();
    const expected = this.room.tracks.some((t) => !t.muted && t.participantId !== this.you?.id && (t.kind !== "video" || !shown || shown.has(t.trackId)));
    const st = this.stallFrom;
    if (!media || !pc || !expected || this.awaitingJoined || this.retiring || this.phase.kind !== "joined") {
      st.packets = -1;
      if (st.stalled) this.emit("stall", (st.stalled = false));
      return;
    }
    let packets = 0;
    try {
      (await pc.getStats()).forEach((r: { type?: string; packetsReceived?: number }) => {
        if (r.type === "inbound-rtp") packets += r.packetsReceived ?? 0;
      });
    } catch {
      return;
    }
    if (media !== this.media) return;
    const now = Date.now();
    if (packets !== st.packets) {
      st.packets = packets;
      st.since = now;
      st.restarted = false;
      if (st.stalled) this.emit("stall", (st.stalled = false));
      return;
    }
    const still = now - st.since;
    if (still >= 2000 && !st.stalled) this.emit("stall", (st.stalled = true));
    if (still >= 5000 && !st.restarted) {
      st.restarted = true;
      void this.rejoin(newSessionId());
    }
  }

  // remoteFor finds the received track the SFU describes, in the current
  // session or, while the room migrates, the one it replaces.
  remoteFor(t: Track): MediaStreamTrack | undefined {
    return this.media?.remoteFor(t) ?? this.retiring?.remoteFor(t);
  }

  // publishedTracks are the tracks to send now: a source that is off sends
  // nothing at all (its sender carries no track) rather than silence/black.
  private publishedTracks(): LocalTracks {
    const t = this.joinOpts!.tracks;
    return { microphone: this.micOn ? t.microphone : null, camera: this.camOn ? t.camera : null };
  }

  // stale reports a node event we must not apply: of an older placement
  // than ours (a node that lost the room), or of a media session that is
  // neither ours nor the one a join in flight is for.
  private stale(ev: ServerEvent): boolean {
    if (ev.type === "error") return !!ev.session && ev.session !== this.media?.id && ev.session !== this.joinSession;
    if (!nodeEvents.has(ev.type)) return false;
    if (ev.epoch && ev.epoch < this.epoch) return true;
    if (!ev.session) return false;
    return ev.session !== this.media?.id && ev.session !== this.joinSession;
  }

  private onEvent(ev: ServerEvent): void {
    if (this.stale(ev)) return;
    const r = this.room.apply(ev);
    switch (ev.type) {
      case "joined":
        void this.onJoined(ev);
        break;
      case "admitted":
        this.opts.tokens.set(this.code, ev.token);
        this.sendJoin().catch((err) => this.fail(err));
        break;
      case "denied":
        this.finish({ kind: "denied", retryAfterMs: ev.retryAfterMs });
        break;
      case "removed":
        this.finish({ kind: "removed" });
        break;
      case "left":
        // A left without a request id is not the answer to our leave: the
        // same person joined from another tab or device, which took the seat
        // and closes this socket. Reconnecting would take the seat back and
        // the two tabs would take turns evicting each other.
        if (!ev.id && (this.phase.kind === "joined" || this.phase.kind === "lobby")) this.finish({ kind: "replaced" });
        break;
      case "ended":
        this.opts.tokens.delete(this.code);
        this.finish({ kind: "ended", byYou: !!this.you && ev.by === this.you.id });
        break;
      case "presence":
        // The room's changes in a batch (RoomState applied them above);
        // those about us also concern the client.
        for (const c of ev.changes ?? []) this.onChange(c);
        break;
      case "participant_left":
      case "participant_updated":
        this.onChange(ev);
        break;
      case "muted":
        void this.onMutedByHost(ev.source, ev.by);
        break;
      case "chat": {
        const { added, gapBefore } = this.chat.add(ev.message, this.you?.id);
        if (added) this.emit("chat", undefined);
        if (gapBefore) void this.loadChat(gapBefore);
        break;
      }
      case "reaction":
        this.emit("reaction", { participantId: ev.participantId, emoji: ev.emoji });
        break;
      case "tracks":
        if (!this.awaitingJoined) this.sizes.again();
        break;
      case "publish_answer":
      case "subscribe_offer":
      case "candidate":
      case "publish_layers":
        if (this.awaitingJoined && ev.session === this.joinSession && ev.session !== this.media?.id) this.earlyMedia.push(ev);
        else if (this.awaitingJoined && !this.media) this.earlyMedia.push(ev);
        else this.media?.handle(ev);
        break;
      case "media_reconnect":
        // The room moved to another node (a newer epoch): join again on
        // this socket with a new media session. With migrate the old node
        // keeps serving until the new session carries media.
        // One naming our session: the node does not have it (we asked to
        // resume it); start anew where the room is.
        if ((ev.epoch ?? 0) > this.epoch || !ev.epoch || (!!ev.session && ev.session === this.media?.id)) {
          if (ev.epoch) this.epoch = ev.epoch;
          this.migrating = !!ev.migrate;
          void this.rejoin(newSessionId());
        }
        break;
      case "rejoin":
        // The meeting's state was rebuilt: tell the server again who we
        // are, keeping the media.
        if (!this.awaitingJoined) void this.rejoin();
        break;
      case "error":
        // Anything refused as not_joined while we think we are in: the
        // server lost our seat (a rebuilt meeting, a moved room). Join
        // again; the request the error answers is for the caller to retry.
        if (ev.code === "not_joined" && this.phase.kind === "joined" && !this.awaitingJoined) void this.rejoin();
        break;
    }
    if (r.changed) this.emit("room", this.room);
  }

  // onChange reacts to a presence change that concerns us: removed, our own
  // state as the server has it, a host muting everyone.
  private onChange(c: PresenceChange): void {
    if (c.type === "participant_updated" && c.reason === "handover") this.emit("handover", c.participant);
    const me = this.you?.id;
    if (!me || !this.you) return;
    if (c.type === "participant_left" && c.participantId === me && c.reason === "removed") this.finish({ kind: "removed" });
    if (c.type === "participant_updated" && c.participant.id === me) {
      // Made co-host (by the host, or because the hosts left): the token
      // now outlives the tab, as a host's does.
      const tok = this.opts.tokens.get(this.code);
      if (tok && moderates(c.participant.role) !== moderates(this.you.role)) this.opts.tokens.set(this.code, tok, moderates(c.participant.role));
      // The host who promotes someone sends them the lobby; a handover has
      // nobody to: ask for the room, which comes with its lobby now.
      if (c.reason === "handover" && moderates(c.participant.role) && !moderates(this.you.role)) {
        void this.sig.request({ action: "resync" }).catch(() => this.room.resyncFailed());
      }
      this.you = c.participant;
    }
    // mute_all is one change for everyone: each turns its own microphone off.
    if (c.type === "all_muted" && c.by !== me && this.micOn) void this.onMutedByHost("microphone", c.by);
  }

  private async onMutedByHost(source: Source, by: ParticipantID): Promise<void> {
    if (source === "microphone") await this.applyMic(false);
    if (source === "camera") await this.applyCam(false);
    if (source === "screen") await this.stopScreen(false);
    const byName = this.room.participants.get(by)?.name ?? "A host";
    this.emit("mutedByHost", { source, by, byName });
  }

  // rejoin joins again with our token: after a new socket (same session:
  // the media may well be fine), a lost seat, or for a new media session.
  // It keeps trying, with backoff, through anything that is not a final
  // answer: a drop before the reply, a timeout, a service briefly
  // unavailable, even "not found" for a while (a meeting Redis lost is
  // rebuilt within seconds). Only a final answer (ended, removed, a token no
  // longer valid, a meeting gone for good) ends the meeting.
  private rejoinSince = 0;
  private rejoinTimer: ReturnType<typeof setTimeout> | null = null;
  private async rejoin(session?: string): Promise<void> {
    if (this.phase.kind !== "joined" && this.phase.kind !== "lobby") return;
    if (this.rejoinTimer) {
      clearTimeout(this.rejoinTimer);
      this.rejoinTimer = null;
    }
    this.rejoinSince ||= Date.now();
    try {
      await this.sendJoin(session);
    } catch (err) {
      if (err instanceof RequestError && err.code === "offline") return; // the next reconnect joins again
      const code = err instanceof RequestError ? err.code : "internal";
      const lostFor = Date.now() - this.rejoinSince;
      if (retryable.has(code) || (code === "not_found" && lostFor < 30_000)) {
        this.awaitingJoined = false;
        const wait = Math.min(5000, 500 * 2 ** Math.min(6, Math.floor(lostFor / 2000)));
        this.rejoinTimer = setTimeout(() => void this.rejoin(session), wait);
        return;
      }
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (err instanceof RequestError) {
      if (err.code === "banned") return this.finish({ kind: "banned" });
      if (err.code === "ended") return this.finish({ kind: "ended", byYou: false });
      if (err.code === "unauthorized") this.opts.tokens.delete(this.code);
      return this.finish({ kind: "failed", code: err.code, message: joinErrors[err.code] ?? err.message });
    }
    this.finish({ kind: "failed", code: "internal", message: err instanceof Error ? err.message : String(err) });
  }

  private finish(p: Phase): void {
    this.stopKnocking();
    if (this.rejoinTimer) clearTimeout(this.rejoinTimer);
    this.rejoinTimer = null;
    this.stopStallWatch();
    this.sizes.stop();
    this.awaitingJoined = false;
    this.earlyMedia = [];
    this.media?.close();
    this.media = null;
    this.retiring?.close();
    this.retiring = null;
    this.sig.close();
    this.setPhase(p);
  }

  private setPhase(p: Phase): void {
    this.phase = p;
    this.emit("phase", p);
  }

  // --- your own devices -------------------------------------------------

  async setMic(on: boolean): Promise<void> {
    await this.applyMic(on);
    await this.update({ micOn: on });
  }

  async setCam(on: boolean): Promise<void> {
    await this.applyCam(on);
    await this.update({ camOn: this.camOn });
  }

  private async applyMic(on: boolean): Promise<void> {
    const mic = this.joinOpts?.tracks.microphone;
    this.micOn = on && !!mic;
    // The pre-join toggle mutes by disabling the track; sending resumes it.
    if (mic) mic.enabled = this.micOn;
    await this.media?.setTrack("microphone", this.micOn ? mic! : null);
  }

  private async applyCam(on: boolean): Promise<void> {
    const t = this.joinOpts!.tracks;
    if (!on) {
      // Release the camera (its light goes off), as Meet does.
      t.camera?.stop();
      t.camera = null;
      this.camOn = false;
      await this.media?.setTrack("camera", null);
      return;
    }
    if (!t.camera || t.camera.readyState === "ended") {
      if (!this.opts.getCamera) return;
      t.camera = await this.opts.getCamera();
      if (this.phase.kind !== "joined") {
        // The meeting ended while the camera opened: release it at once.
        t.camera.stop();
        t.camera = null;
        return;
      }
    }
    this.camOn = true;
    await this.media?.setTrack("camera", t.camera);
  }

  async startScreen(track: MediaStreamTrack): Promise<void> {
    this.screen = track;
    track.addEventListener("ended", () => this.screen === track && void this.stopScreen(true));
    await this.media?.setTrack("screen", track);
    await this.update({ screenOn: true });
  }

  // stopScreen also ends the capture, so the browser's "sharing your screen"
  // indicator goes away with the presentation (whether we or a host stopped it).
  async stopScreen(tell = true): Promise<void> {
    this.screen?.stop();
    this.screen = null;
    await this.media?.setTrack("screen", null);
    if (tell) await this.update({ screenOn: false });
  }

  async setHand(raised: boolean): Promise<void> {
    await this.update({ handRaised: raised });
  }

  // replaceLocalTrack switches a device mid-call: the sender's track is
  // replaced, no renegotiation (MediaSession.setTrack). The track may be the
  // one already in our tracks (the preview opened it there).
  async replaceLocalTrack(source: "microphone" | "camera", track: MediaStreamTrack): Promise<void> {
    const t = this.joinOpts!.tracks;
    if (t[source] !== track) t[source]?.stop();
    t[source] = track;
    const on = source === "microphone" ? this.micOn : this.camOn;
    if (source === "microphone") track.enabled = on;
    if (on) await this.media?.setTrack(source, track);
  }

  // --- chat, reactions, hands ----------------------------------------------

  // sendChat sends a message; it rejects with the server's refusal
  // (rate_limited, forbidden while chat is off) for the UI to say so. The
  // message joins the log when its reply comes, as everyone else's does.
  async sendChat(text: string): Promise<void> {
    await this.sig.request({ action: "chat", text });
  }

  // loadChat merges the history page before a message id (0 = the newest)
  // and answers the page's oldest id and whether older ones exist (ok:
  // false when the request failed).
  async loadChat(before = 0): Promise<{ ok: boolean; oldest: number; more: boolean }> {
    const reply = await this.sig.request({ action: "chat_history", ...(before ? { before } : {}) }).catch(() => null);
    if (reply?.type !== "chat_history") return { ok: false, oldest: 0, more: false };
    const page = reply.messages ?? [];
    if (this.chat.merge(page, reply.more, this.you?.id) > 0 || before === 0) this.emit("chat", undefined);
    return { ok: true, oldest: page[0]?.id ?? 0, more: reply.more };
  }

  // syncChat catches up after a join: the newest page, then the one before
  // it while the page does not reach back to what we had (the server keeps
  // 100 messages: two pages). A history that cannot be had is tried once
  // more, then said.
  private async syncChat(): Promise<void> {
    const had = this.chat.lastId;
    let p = await this.loadChat();
    if (!p.ok) {
      await new Promise((r) => setTimeout(r, 2000));
      if (this.phase.kind !== "joined") return;
      p = await this.loadChat();
      if (!p.ok) return void this.emit("notice", "Earlier chat messages couldn't be loaded.");
    }
    for (let i = 0; i < 2 && had > 0 && p.more && p.oldest > had + 1; i++) p = await this.loadChat(p.oldest);
  }

  // react shows our reaction at once and sends it to everyone else.
  async react(emoji: Emoji): Promise<void> {
    if (this.you) this.emit("reaction", { participantId: this.you.id, emoji });
    await this.sig.request({ action: "react", emoji }).catch((e: Error) => this.emit("notice", e.message));
  }

  setChatEnabled(enabled: boolean) { return this.moderate(this.sig.request({ action: "set_chat", enabled })); }
  // lowerHands lowers one participant's hand, or everyone's.
  lowerHands(id?: ParticipantID) { return this.moderate(this.sig.request({ action: "lower_hands", ...(id ? { participantId: id } : {}) })); }

  private async update(u: { micOn?: boolean; camOn?: boolean; screenOn?: boolean; handRaised?: boolean }): Promise<void> {
    await this.sig.request({ action: "update", ...u }).catch((e: Error) => this.emit("notice", e.message));
  }

  // --- leaving -----------------------------------------------------------

  async leave(): Promise<void> {
    const wasLobby = this.phase.kind === "lobby";
    await this.sig.request({ action: "leave" }, 3000).catch(() => {});
    if (wasLobby) this.opts.tokens.delete(this.code);
    this.finish({ kind: wasLobby ? "cancelled" : "left" });
  }

  // --- moderation (the server checks the role; the UI only hides buttons) ---

  private moderate(p: Promise<unknown>): Promise<void> {
    return p.then(
      () => {},
      (e: Error) => this.emit("notice", e.message),
    );
  }
  admit(id: ParticipantID) { return this.moderate(this.sig.request({ action: "admit", participantId: id })); }
  admitAll() { return this.moderate(this.sig.request({ action: "admit_all" })); }
  deny(id: ParticipantID) { return this.moderate(this.sig.request({ action: "deny", participantId: id })); }
  mute(id: ParticipantID, source: Source) { return this.moderate(this.sig.request({ action: "mute", participantId: id, source })); }
  muteAll() { return this.moderate(this.sig.request({ action: "mute_all" })); }
  remove(id: ParticipantID) { return this.moderate(this.sig.request({ action: "remove", participantId: id })); }
  lock(locked: boolean) { return this.moderate(this.sig.request({ action: "lock", locked })); }
  setRole(id: ParticipantID, role: Role) { return this.moderate(this.sig.request({ action: "set_role", participantId: id, role })); }
  end() { return this.moderate(this.sig.request({ action: "end" })); }
}
