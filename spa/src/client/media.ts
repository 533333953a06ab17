import type { ICECandidate, PeerTarget, ServerEvent, Source, Track, TrackInfo } from "./protocol";
import type { Signaling } from "./signaling";
import { Emitter } from "./emitter";
import { msidByMid } from "./sdp";

export interface LocalTracks {
  microphone?: MediaStreamTrack | null;
  camera?: MediaStreamTrack | null;
  screen?: MediaStreamTrack | null;
}

type MediaEvents = {
  // A remote track arrived or was replaced; the UI looks it up by trackId.
  remoteTrack: { trackId: string; track: MediaStreamTrack };
  error: Error;
  // A PeerConnection failed (ICE or DTLS gave up, e.g. after a network
  // change): the meeting joins again to get fresh ones.
  failed: PeerTarget;
};

const sources: Source[] = ["microphone", "camera", "screen"];

// MediaSession owns the two PeerConnections of one participant: publish
// (we offer our tracks, the SFU answers) and subscribe (the SFU offers
// whatever is forwarded now, we answer). Either can be rebuilt on
// a re-join (new socket, or media_reconnect) without touching signaling.
export class MediaSession extends Emitter<MediaEvents> {
  publishPC: RTCPeerConnection | null = null;
  subscribePC: RTCPeerConnection | null = null;
  // Remote tracks by the receiver track's id, which the SFU sets (through the
  // SDP's msid) to the trackId it lists in subscribe_offer/tracks events.
  readonly remote = new Map<string, MediaStreamTrack>();
  private senders = new Map<Source, RTCRtpSender>();
  private pendingRemote: Record<PeerTarget, ICECandidate[]> = { publish: [], subscribe: [] };
  private subscribeQueue: Promise<void> = Promise.resolve();
  private publishing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly sig: Signaling,
    private local: LocalTracks,
    private readonly rtcConfig: RTCConfiguration = {},
  ) {
    super();
  }

  async start(): Promise<void> {
    this.closed = false;
    this.buildPublish();
    await this.negotiatePublish();
  }

  // handle takes the media events from signaling.
  handle(ev: ServerEvent): void {
    if (this.closed) return;
    switch (ev.type) {
      case "publish_answer":
        this.onPublishAnswer(ev.sdp);
        break;
      case "subscribe_offer":
        this.subscribeQueue = this.subscribeQueue.then(() => this.onSubscribeOffer(ev.sdp, ev.tracks ?? []));
        break;
      case "candidate":
        this.onRemoteCandidate(ev.target, ev.candidate);
        break;
    }
  }

  // rebuild closes both PeerConnections and publishes again; the SFU sends a
  // fresh subscribe offer on its own.
  async rebuild(): Promise<void> {
    this.closePCs();
    this.closed = false;
    await this.start();
  }

  // setTrack swaps what a source sends without renegotiating when a sender
  // for it exists (device change); a new source (screen) renegotiates.
  async setTrack(source: Source, track: MediaStreamTrack | null): Promise<void> {
    this.local[source as keyof LocalTracks] = track;
    const sender = this.senders.get(source);
    if (sender) {
      await sender.replaceTrack(track);
      if (!track && source === "screen" && this.publishPC) {
        this.publishPC.removeTrack(sender);
        this.senders.delete(source);
        await this.negotiatePublish();
      }
      return;
    }
    if (track && this.publishPC) {
      this.addSender(source, track);
      await this.negotiatePublish();
    }
  }

  // remoteFor finds the received track the SFU describes.
  remoteFor(t: Track): MediaStreamTrack | undefined {
    return this.remote.get(t.trackId);
  }

  close(): void {
    this.closed = true;
    this.closePCs();
  }

  private closePCs(): void {
    this.publishPC?.close();
    this.subscribePC?.close();
    this.publishPC = this.subscribePC = null;
    this.senders.clear();
    this.remote.clear();
    this.pendingRemote = { publish: [], subscribe: [] };
    this.subscribeQueue = Promise.resolve();
  }

  // watch reports a PeerConnection that failed while it is still ours;
  // "disconnected" is left alone, as browsers recover from it by themselves.
  private watch(pc: RTCPeerConnection, target: PeerTarget): void {
    pc.onconnectionstatechange = () => {
      const ours = target === "publish" ? this.publishPC : this.subscribePC;
      if (pc.connectionState === "failed" && pc === ours && !this.closed) this.emit("failed", target);
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

  private addSender(source: Source, track: MediaStreamTrack): void {
    const pc = this.publishPC!;
    const tr = pc.addTransceiver(track, { direction: "sendonly", streams: [new MediaStream([track])] });
    this.senders.set(source, tr.sender);
  }

  // negotiatePublish sends an offer with the list of what each track is; the
  // answer arrives as a publish_answer event (handled in handle, so an
  // answer is applied even if the SFU does not echo our request id).
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
      await this.sig.request({ action: "publish_offer", sdp: offer.sdp ?? "", tracks }).catch((err: Error) => {
        this.emit("error", new Error(`publishing media failed: ${err.message}`));
      });
    });
    return this.publishing;
  }

  private async onPublishAnswer(sdp: string): Promise<void> {
    const pc = this.publishPC;
    if (!pc || pc.signalingState !== "have-local-offer") return;
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
      await this.flushCandidates("publish");
    } catch (err) {
      this.emit("error", new Error(`bad publish answer: ${(err as Error).message}`));
    }
  }

  private async onSubscribeOffer(sdp: string, tracks: Track[]): Promise<void> {
    if (this.closed) return;
    let pc = this.subscribePC;
    if (!pc) {
      pc = new RTCPeerConnection(this.rtcConfig);
      this.subscribePC = pc;
      pc.onicecandidate = (e) => this.sendCandidate("subscribe", e.candidate);
      this.watch(pc, "subscribe");
      pc.ontrack = (e) => {
        this.remote.set(e.track.id, e.track);
        this.emit("remoteTrack", { trackId: e.track.id, track: e.track });
      };
    }
    try {
      await pc.setRemoteDescription({ type: "offer", sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      if (pc !== this.subscribePC) return; // closed or rebuilt meanwhile: the offer is moot
      await this.flushCandidates("subscribe");
      this.sig.send({ action: "subscribe_answer", sdp: answer.sdp ?? "" });
      // The offer lists everything forwarded to us now: tracks of people who
      // left or stopped presenting are forgotten, not kept for the meeting.
      const live = new Set(tracks.map((t) => t.trackId));
      for (const id of this.remote.keys()) if (!live.has(id)) this.remote.delete(id);
    } catch (err) {
      // A PeerConnection closed under us (leave, media_reconnect) is not a
      // bad offer; only an offer our current one rejects is worth a notice.
      if (pc === this.subscribePC) this.emit("error", new Error(`bad subscribe offer: ${(err as Error).message}`));
    }
  }

  private sendCandidate(target: PeerTarget, c: RTCIceCandidate | null): void {
    if (!c || !c.candidate) return; // end-of-candidates needs no message
    const candidate: ICECandidate = { candidate: c.candidate };
    if (c.sdpMid != null) candidate.sdpMid = c.sdpMid;
    if (c.sdpMLineIndex != null) candidate.sdpMLineIndex = c.sdpMLineIndex;
    if (c.usernameFragment != null) candidate.usernameFragment = c.usernameFragment;
    this.sig.send({ action: "candidate", target, candidate });
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
