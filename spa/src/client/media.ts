import type { ICECandidate, PeerTarget, ServerEvent, Source, Track, TrackInfo } from "./protocol";
import type { Signaling } from "./signaling";
import { Emitter } from "./emitter";
import { msidByMid } from "./sdp";
import { applyActiveLayers, cameraEncodings, capBitrate, fallBackToOneLayer, rescaleLayers, screenMaxBitrate } from "./layers";

export interface LocalTracks {
  microphone?: MediaStreamTrack | null;
  camera?: MediaStreamTrack | null;
  screen?: MediaStreamTrack | null;
}

type MediaEvents = {
  // A remote track arrived or was replaced; the UI looks it up by trackId.
  remoteTrack: { trackId: string; track: MediaStreamTrack };
  // A subscribe offer was answered: what is forwarded to us now, with mids.
  offered: Track[];
  error: Error;
  // A PeerConnection failed (ICE or DTLS gave up, e.g. after a network
  // change): the meeting joins again with a new session.
  failed: PeerTarget;
};

const sources: Source[] = ["microphone", "camera", "screen"];

// newSessionId names a media session: random, in the protocol's id alphabet.
export function newSessionId(): string {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return "m-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// MediaSession is one media session of a participant (the protocol's
// `session`): the publish PeerConnection (we offer our tracks, the SFU
// answers) and the subscribe one (the SFU offers whatever is forwarded now,
// we answer). Every message it sends names the session; the meeting gives it
// only the node events of its session. A session is never rebuilt in place:
// when the media must start over (the room moved, a connection failed) the
// meeting starts a new session and closes this one.
export class MediaSession extends Emitter<MediaEvents> {
  publishPC: RTCPeerConnection | null = null;
  subscribePC: RTCPeerConnection | null = null;
  // Remote tracks by the trackId the SFU lists in subscribe_offer, found
  // through the transceiver's mid: a browser that reuses a transceiver for
  // another participant's track keeps the old MediaStreamTrack and its id,
  // so neither may be trusted to say whose it is.
  readonly remote = new Map<string, MediaStreamTrack>();
  private offered: Track[] = [];
  private senders = new Map<Source, RTCRtpSender>();
  // The encodings each video sender was given (the camera's simulcast
  // layers), and the layers the node last asked each one to encode
  // (publish_layers, by the sender's mid), applied again after every answer.
  private encodings = new Map<RTCRtpSender, RTCRtpEncodingParameters[]>();
  private wantLayers = new Map<string, string[]>();
  // setParameters calls one at a time: each reads what the last one wrote.
  private params: Promise<unknown> = Promise.resolve();
  private pendingRemote: Record<PeerTarget, ICECandidate[]> = { publish: [], subscribe: [] };
  private subscribeQueue: Promise<void> = Promise.resolve();
  private publishing: Promise<void> = Promise.resolve();
  // The request id of the publish offer waiting for its answer.
  private offerId = "";
  // The offer whose answer is applied (or being applied): the answer
  // arrives as the request's reply and as an event, and applying it twice
  // fails ("Called in wrong state: stable").
  private answered = "";
  private closed = false;

  constructor(
    private readonly sig: Signaling,
    private local: LocalTracks,
    private readonly rtcConfig: RTCConfiguration = {},
    readonly id: string = newSessionId(),
    readonly epoch: number = 0,
  ) {
    super();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async start(): Promise<void> {
    this.buildPublish();
    await this.negotiatePublish();
  }

  // handle takes this session's media events from the meeting.
  handle(ev: ServerEvent): void {
    if (this.closed) return;
    switch (ev.type) {
      case "publish_answer":
        // Normally the reply to our request; also taken here should the
        // request have timed out before the answer came.
        if (ev.id === this.offerId) void this.applyPublishAnswer(ev.id, ev.sdp);
        break;
      case "subscribe_offer":
        this.subscribeQueue = this.subscribeQueue.then(() => this.onSubscribeOffer(ev.offerId, ev.sdp, ev.tracks ?? []));
        break;
      case "candidate":
        this.onRemoteCandidate(ev.target, ev.candidate);
        break;
      case "publish_layers":
        for (const t of ev.tracks ?? []) this.wantLayers.set(t.mid, t.active ?? []);
        void this.applyLayers();
        break;
    }
  }

  // setTrack swaps what a source sends without renegotiating when a sender
  // for it exists (device change); a new source (screen) renegotiates.
  async setTrack(source: Source, track: MediaStreamTrack | null): Promise<void> {
    this.local[source as keyof LocalTracks] = track;
    const sender = this.senders.get(source);
    if (sender) {
      await sender.replaceTrack(track);
      if (track && source === "camera") await this.setParams(sender, (s) => rescaleLayers(s, track.getSettings?.() ?? {}));
      if (!track && source === "screen" && this.publishPC) {
        this.publishPC.removeTrack(sender);
        this.senders.delete(source);
        this.encodings.delete(sender);
        await this.negotiatePublish();
      }
      return;
    }
    if (track && this.publishPC) {
      this.addSender(source, track);
      await this.negotiatePublish();
    }
  }

  // offeredTracks is what the SFU's last offer forwards to us, with mids.
  offeredTracks(): Track[] {
    return this.offered;
  }

  // remoteFor finds the received track the SFU describes.
  remoteFor(t: Track): MediaStreamTrack | undefined {
    return this.remote.get(t.trackId);
  }

  // receivesAll reports whether this session receives every track `other`
  // does and its subscribe connection is up: a new session may then take
  // over from the old one (make-before-break).
  receivesAll(other: MediaSession): boolean {
    if (this.subscribePC?.connectionState !== "connected" && other.remote.size > 0) return false;
    for (const id of other.remote.keys()) if (!this.remote.has(id)) return false;
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.publishPC?.close();
    this.subscribePC?.close();
    this.publishPC = this.subscribePC = null;
    this.senders.clear();
    this.encodings.clear();
    this.remote.clear();
    this.pendingRemote = { publish: [], subscribe: [] };
  }

  // watch reports a PeerConnection that failed while the session is open;
  // "disconnected" is left alone, as browsers recover from it by themselves.
  private watch(pc: RTCPeerConnection, target: PeerTarget): void {
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" && !this.closed) this.emit("failed", target);
    };
  }

  private buildPublish(): void {
    const pc = new RTCPeerConnection(this.rtcConfig);
    this.publishPC = pc;
    pc.onicecandidate = (e) => this.sendCandidate("publish", e.candidate);
    this.watch(pc, "publish");
    for (const s of sources) {
      const t = this.local[s as keyof LocalTracks];
      if (t) this.addSender(s, t);
    }
  }

  // addSender publishes a source: the camera in simulcast layers (one when
  // the browser refuses them), a presentation as one sharp layer.
  private addSender(source: Source, track: MediaStreamTrack): void {
    const pc = this.publishPC!;
    const init: RTCRtpTransceiverInit = { direction: "sendonly", streams: [new MediaStream([track])] };
    let enc: RTCRtpEncodingParameters[] | null = null;
    if (source === "camera") enc = cameraEncodings(track.getSettings?.() ?? {});
    if (source === "screen") {
      if ("contentHint" in track) track.contentHint = "detail";
      enc = [{ maxBitrate: screenMaxBitrate }];
    }
    let tr: RTCRtpTransceiver;
    try {
      tr = pc.addTransceiver(track, enc ? { ...init, sendEncodings: enc } : init);
    } catch (err) {
      // A browser that takes no sendEncodings (or not these): one layer,
      // capped as our top one is once the connection is up.
      if (!enc) throw err;
      tr = pc.addTransceiver(track, init);
      enc = [enc[enc.length - 1]];
    }
    this.senders.set(source, tr.sender);
    if (enc) this.encodings.set(tr.sender, enc);
  }

  // setParams runs one change of a sender's parameters after the others; a
  // refusal (the sender went away meanwhile) is not worth a notice.
  private setParams(sender: RTCRtpSender, change: (s: RTCRtpSender) => Promise<unknown>): Promise<void> {
    const run = this.params.then(() => (this.closed ? undefined : change(sender)));
    this.params = run.catch(() => {});
    return run.then(() => {}, () => {});
  }

  // afterAnswer fits the senders to what was negotiated: a camera whose
  // simulcast was refused sends its top layer; each layer the node asked
  // for is on, the others off.
  private async afterAnswer(): Promise<void> {
    for (const [sender, enc] of this.encodings) {
      if (enc.length > 1) await this.setParams(sender, (s) => fallBackToOneLayer(s, enc));
      else if (enc[0].maxBitrate) await this.setParams(sender, (s) => capBitrate(s, enc[0].maxBitrate!));
    }
    await this.applyLayers();
  }

  // applyLayers sets which layers each sender encodes as the node last
  // asked (dynacast); a sender the node said nothing of sends everything.
  private async applyLayers(): Promise<void> {
    const pc = this.publishPC;
    if (!pc || this.closed) return;
    for (const tr of pc.getTransceivers()) {
      const want = tr.mid ? this.wantLayers.get(tr.mid) : undefined;
      if (want && this.encodings.has(tr.sender)) await this.setParams(tr.sender, (s) => applyActiveLayers(s, want));
    }
  }

  // negotiatePublish sends an offer with the list of what each track is and
  // applies the answer that names it (its reply); an answer to an older
  // offer never reaches the connection.
  private negotiatePublish(): Promise<void> {
    this.publishing = this.publishing.then(async () => {
      const pc = this.publishPC;
      if (!pc || this.closed) return;
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const byMid = msidByMid(offer.sdp ?? "");
      const tracks: TrackInfo[] = [];
      for (const [source, sender] of this.senders) {
        const tr = pc.getTransceivers().find((t) => t.sender === sender);
        const msid = tr?.mid ? byMid.get(tr.mid) : undefined;
        if (msid) tracks.push({ trackId: msid.trackId, source });
      }
      const { id, reply } = this.sig.requestWithId({ action: "publish_offer", session: this.id, sdp: offer.sdp ?? "", tracks });
      this.offerId = id;
      try {
        const ev = await reply;
        if (ev.type === "publish_answer") await this.applyPublishAnswer(id, ev.sdp);
      } catch (err) {
        if (!this.closed) this.emit("error", new Error(`publishing media failed: ${(err as Error).message}`));
      }
    });
    return this.publishing;
  }

  private async applyPublishAnswer(id: string, sdp: string): Promise<void> {
    const pc = this.publishPC;
    if (!pc || this.closed || pc.signalingState !== "have-local-offer" || this.answered === id) return;
    this.answered = id;
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
      await this.flushCandidates("publish");
      await this.afterAnswer();
    } catch (err) {
      this.emit("error", new Error(`bad publish answer: ${(err as Error).message}`));
    }
  }

  private async onSubscribeOffer(offerId: string, sdp: string, tracks: Track[]): Promise<void> {
    if (this.closed) return;
    let pc = this.subscribePC;
    if (!pc) {
      pc = new RTCPeerConnection(this.rtcConfig);
      this.subscribePC = pc;
      pc.onicecandidate = (e) => this.sendCandidate("subscribe", e.candidate);
      this.watch(pc, "subscribe");
      pc.ontrack = () => this.mapRemote();
    }
    try {
      await pc.setRemoteDescription({ type: "offer", sdp });
      this.offered = tracks;
      this.mapRemote();
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      if (this.closed) return; // closed meanwhile: the offer is moot
      await this.flushCandidates("subscribe");
      this.sig.send({ action: "subscribe_answer", session: this.id, offerId, sdp: answer.sdp ?? "" });
      this.emit("offered", tracks);
    } catch (err) {
      // A PeerConnection closed under us (leave, a new session) is not a
      // bad offer; only an offer our open one rejects is worth a notice.
      if (!this.closed) this.emit("error", new Error(`bad subscribe offer: ${(err as Error).message}`));
    }
  }

  // mapRemote matches the offered tracks to the received ones by mid; the
  // offer lists everything forwarded to us now, so tracks of people who left
  // or stopped presenting are forgotten, not kept for the meeting.
  private mapRemote(): void {
    const pc = this.subscribePC;
    if (!pc) return;
    const byMid = new Map<string, MediaStreamTrack>();
    for (const t of pc.getTransceivers()) if (t.mid && t.receiver?.track) byMid.set(t.mid, t.receiver.track);
    const live = new Set<string>();
    for (const t of this.offered) {
      const track = t.mid ? byMid.get(t.mid) : undefined;
      if (!track) continue;
      live.add(t.trackId);
      if (this.remote.get(t.trackId) !== track) {
        this.remote.set(t.trackId, track);
        this.emit("remoteTrack", { trackId: t.trackId, track });
      }
    }
    for (const id of [...this.remote.keys()]) if (!live.has(id)) this.remote.delete(id);
  }

  private sendCandidate(target: PeerTarget, c: RTCIceCandidate | null): void {
    if (!c || !c.candidate || this.closed) return; // end-of-candidates needs no message
    const candidate: ICECandidate = { candidate: c.candidate };
    if (c.sdpMid != null) candidate.sdpMid = c.sdpMid;
    if (c.sdpMLineIndex != null) candidate.sdpMLineIndex = c.sdpMLineIndex;
    if (c.usernameFragment != null) candidate.usernameFragment = c.usernameFragment;
    this.sig.send({ action: "candidate", session: this.id, target, candidate });
  }

  private onRemoteCandidate(target: PeerTarget, c: ICECandidate): void {
    const pc = target === "publish" ? this.publishPC : this.subscribePC;
    // A candidate can beat the description it belongs to; keep it until then.
    if (!pc || !pc.remoteDescription) {
      this.pendingRemote[target].push(c);
      return;
    }
    pc.addIceCandidate(c).catch(() => {});
  }

  private async flushCandidates(target: PeerTarget): Promise<void> {
    const pc = target === "publish" ? this.publishPC : this.subscribePC;
    const list = this.pendingRemote[target];
    this.pendingRemote[target] = [];
    for (const c of list) await pc?.addIceCandidate(c).catch(() => {});
  }
}
