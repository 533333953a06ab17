package sfu

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/sfu/forward"
)

// trackKey names a published track: whose, and what it carries. A
// participant publishes at most one track per source.
type trackKey struct {
	pid    events.ParticipantID
	source events.Source
}

// published is a track being forwarded in a room.
type published struct {
	key  trackKey
	recv *forward.Receiver // the first layer: kind and codec of them all
	info events.Track      // as subscribers see it (ids, kind)
	// layers is a simulcast track's layers, lowest first (copied on
	// write, under room.mu); nil for a track without simulcast.
	layers atomic.Pointer[[]*forward.Receiver]
	// pc is the publish connection it came on, mid its transceiver there.
	pc  *webrtc.PeerConnection
	mid string
	// offered is the RIDs the publish offer declares for the transceiver
	// (lowest first), whether or not their packets have come yet.
	offered []string
	// dyn is what the publisher was told of each layer (dynacast); room
	// loop only.
	dyn map[string]*dynLayer
}

// receivers is every layer of the track (one without simulcast).
func (p *published) receivers() []*forward.Receiver {
	if ls := p.layers.Load(); ls != nil {
		return *ls
	}
	return []*forward.Receiver{p.recv}
}

// layered reports whether the track is simulcast.
func (p *published) layered() bool { return p.layers.Load() != nil }

// setMuted mutes or unmutes every layer.
func (p *published) setMuted(m bool) {
	for _, l := range p.receivers() {
		l.SetMuted(m)
	}
}

// bytesOut is what every layer forwarded.
func (p *published) bytesOut() uint64 {
	var n uint64
	for _, l := range p.receivers() {
		n += l.Stats().BytesOut
	}
	return n
}

// room is one meeting's media on this node, under one placement epoch: a
// room placed here again later is a new room.
type room struct {
	code  events.RoomCode
	epoch uint64
	node  *Node
	log   *slog.Logger

	mu      sync.Mutex
	bcastMu sync.Mutex // orders room-wide events; taken before mu
	parts   map[events.ParticipantID]*participant
	tracks  map[trackKey]*published
	muted   map[trackKey]bool
	mutedAt map[trackKey]uint64 // room seq of the last set_muted applied per source
	closed  bool
	// meta is the room's settings as the signaling plane last sent them: what
	// the node rebuilds the meeting from if Redis loses it.
	meta *events.RoomMeta
	// handedOver is set when this (draining) node moved the room to another:
	// it keeps serving the sessions it has until their clients close them
	// (make-before-break), and is no longer fenced off for not owning it.
	handedOver atomic.Bool

	retiredBytes uint64 // forwarded by tracks that ended, for the load figure

	speakers []events.ParticipantID // last announced
	// spokeAt is when each participant was last heard (last-N order).
	spokeAt   map[events.ParticipantID]time.Time
	adaptedAt time.Time            // the room loop's last adapt
	view      atomic.Pointer[view] // what it saw then
	stop      chan struct{}
	stopOnce  sync.Once

	// The room's presence feed (presence.go), touched by presenceLoop only
	// once the room runs: logAt is how far it has read the room's log;
	// recent the last changes it pushed, which follow recentFrom.
	wakeCh     chan struct{}
	feedMu     sync.Mutex // guards logAt, for readers outside presenceLoop
	logAt      state.LogID
	recent     []state.LogEntry
	recentFrom state.LogID
	// resetFeed: Redis lost the room and its log; the feed reads the new
	// log from its start.
	resetFeed atomic.Bool
	// expiring is set while the node takes out this room's participants
	// who did not come back in time (watch.go), so one pass runs at a time.
	expiring atomic.Bool
}

// readAt is how far the room has read its log.
func (r *room) readAt() state.LogID {
	r.feedMu.Lock()
	defer r.feedMu.Unlock()
	return r.logAt
}

// shutdown stops the room's background work.
func (r *room) shutdown() { r.stopOnce.Do(func() { close(r.stop) }) }

// newRoom starts a room whose log the node has read up to logAt (the
// position of the join that brings the room here).
func newRoom(n *Node, code events.RoomCode, epoch uint64, logAt state.LogID) *room {
	r := &room{
		code: code, epoch: epoch, node: n, log: n.log.With("room", code, "epoch", epoch),
		parts: map[events.ParticipantID]*participant{}, tracks: map[trackKey]*published{},
		muted: map[trackKey]bool{}, mutedAt: map[trackKey]uint64{}, stop: make(chan struct{}),
		wakeCh: make(chan struct{}, 1), logAt: logAt, recentFrom: logAt,
		spokeAt: map[events.ParticipantID]time.Time{},
	}
	go r.speakerLoop()
	go r.presenceLoop()
	return r
}

// room returns the room, nil when the node has none of that code.
func (n *Node) room(code events.RoomCode) *room {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rooms[code]
}

// dropIfEmpty forgets the room once its last participant left.
func (n *Node) dropIfEmpty(r *room) {
	n.mu.Lock()
	r.mu.Lock()
	empty := len(r.parts) == 0
	if empty {
		r.closed = true
	}
	r.mu.Unlock()
	if empty && n.rooms[r.code] == r {
		delete(n.rooms, r.code)
		r.shutdown()
	}
	n.mu.Unlock()
	if empty {
		r.log.Debug("room closed: empty")
	}
}

func (r *room) participant(id events.ParticipantID) *participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.parts[id]
}

// participants is everyone in the room now.
func (r *room) participants() []*participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*participant, 0, len(r.parts))
	for _, p := range r.parts {
		out = append(out, p)
	}
	return out
}

// sessions is how many participants have media here.
func (r *room) sessions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.parts {
		if p.session != nil {
			n++
		}
	}
	return n
}

// counts returns participants, tracks and bytes forwarded so far.
func (r *room) counts() (int, int, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out uint64
	for _, t := range r.tracks {
		out += t.bytesOut()
	}
	return len(r.parts), len(r.tracks), out + r.retiredBytes
}

// setMeta keeps the room's settings; an older copy than the one held (by
// room seq) is ignored.
func (r *room) setMeta(m *events.RoomMeta) {
	if m == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.meta == nil || m.Seq >= r.meta.Seq {
		cp := *m
		r.meta = &cp
	}
}

// addTrack starts forwarding pub, replacing the participant's earlier track
// of the same source.
func (r *room) addTrack(pub *published) {
	r.mu.Lock()
	r.install(pub)
	r.mu.Unlock()
	r.announce(pub)
}

// install makes pub the forwarded track of its key. Call with r.mu, then
// announce.
func (r *room) install(pub *published) {
	if r.muted[pub.key] {
		pub.setMuted(true)
	}
	pub.info.Muted = r.muted[pub.key]
	r.tracks[pub.key] = pub
}

// announce tells everyone of a new track (and renegotiates them).
func (r *room) announce(pub *published) {
	r.log.Info("track published", "participant", pub.key.pid, "source", pub.key.source,
		"codec", pub.recv.Codec().MimeType, "simulcast", pub.layered())
	r.tracksChanged()
}

// removeTrack stops forwarding pub (its publisher stopped it or left).
func (r *room) removeTrack(pub *published) {
	r.mu.Lock()
	found := r.tracks[pub.key] == pub
	if found {
		delete(r.tracks, pub.key)
		r.retiredBytes += pub.bytesOut()
	}
	r.mu.Unlock()
	if found {
		r.log.Info("track ended", "participant", pub.key.pid, "source", pub.key.source)
		r.tracksChanged()
	}
}

// dropTracksOf stops forwarding every track of pid; reports whether it had
// any. Call with r.mu.
func (r *room) dropTracksOf(pid events.ParticipantID) bool {
	changed := false
	for k, t := range r.tracks {
		if k.pid == pid {
			delete(r.tracks, k)
			r.retiredBytes += t.bytesOut()
			changed = true
		}
	}
	return changed
}

// setMuted starts or stops forwarding one source at once; a source that is
// not published yet starts in that state. seq orders it against the other
// set_muted commands of the source (see events.Command.Seq): an older one
// is stale and ignored, and setMuted reports false.
func (r *room) setMuted(p *participant, source events.Source, muted bool, seq uint64) bool {
	ok, published := r.applyMuted(p, source, muted, seq)
	if published {
		r.broadcastTracks()
	}
	return ok
}

// applyMuted is setMuted without telling anyone; published reports whether
// the source is a track being forwarded (whose muted state everyone sees).
func (r *room) applyMuted(p *participant, source events.Source, muted bool, seq uint64) (ok, published bool) {
	key := trackKey{p.id, source}
	r.mu.Lock()
	if seq != 0 && (seq < p.joinSeq || seq < r.mutedAt[key]) {
		r.mu.Unlock()
		return false, false
	}
	r.mutedAt[key] = max(r.mutedAt[key], seq)
	r.muted[key] = muted
	pub := r.tracks[key]
	if pub != nil {
		pub.info.Muted = muted
	}
	r.mu.Unlock()
	if pub != nil {
		pub.setMuted(muted)
	}
	return true, pub != nil
}

// muteAll stops forwarding every microphone but except's, as of room seq
// (mute_all); each participant's own ordering holds (setMuted).
func (r *room) muteAll(except events.ParticipantID, seq uint64) int {
	n, tracks := 0, false
	for _, p := range r.participants() {
		if p.id == except {
			continue
		}
		ok, published := r.applyMuted(p, events.SourceMicrophone, true, seq)
		if ok {
			n++
		}
		tracks = tracks || published
	}
	if tracks {
		r.broadcastTracks() // once, not once per microphone
	}
	return n
}

func (r *room) isMuted(pid events.ParticipantID, s events.Source) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.muted[trackKey{pid, s}]
}

// tracksChanged renegotiates every subscriber and tells everyone; a room
// being closed tells nobody.
func (r *room) tracksChanged() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	for _, p := range r.parts {
		if s := p.session; s != nil {
			s.renegotiate()
		}
	}
	r.mu.Unlock()
	r.broadcastTracks()
}

// trackList is every forwarded track, in a stable order. Call with r.mu.
func (r *room) trackList() []events.Track {
	out := make([]events.Track, 0, len(r.tracks))
	for _, t := range r.tracks {
		out = append(out, t.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TrackID < out[j].TrackID })
	return out
}

// broadcastTracks sends the room's track list to everyone. bcastMu keeps
// two lists from overtaking each other between reading and queueing.
func (r *room) broadcastTracks() {
	r.bcastMu.Lock()
	defer r.bcastMu.Unlock()
	r.mu.Lock()
	list := r.trackList()
	r.mu.Unlock()
	r.sendAll(func() events.Event { return &events.Tracks{Tracks: list} })
}

// broadcast sends everyone their own copy of an event (pushing marks it).
func (r *room) broadcast(mk func() events.Event) {
	r.bcastMu.Lock()
	defer r.bcastMu.Unlock()
	r.sendAll(mk)
}

// sendAll queues an event for everyone, as of their current media session.
// Queueing may wait on a slow client, so not under the room's lock.
func (r *room) sendAll(mk func() events.Event) {
	for _, p := range r.participants() {
		p.sendCurrent(mk())
	}
}

// removeParticipant closes a participant's media and stops forwarding
// their tracks; the others are renegotiated without them.
func (r *room) removeParticipant(p *participant, reason string) {
	r.mu.Lock()
	if r.parts[p.id] != p {
		r.mu.Unlock()
		return
	}
	delete(r.parts, p.id)
	for k := range r.muted {
		if k.pid == p.id {
			delete(r.muted, k) // a rejoin brings its own muted sources
		}
	}
	for k := range r.mutedAt {
		if k.pid == p.id {
			delete(r.mutedAt, k)
		}
	}
	changed := r.dropTracksOf(p.id)
	r.mu.Unlock()
	r.node.people.Add(-1)
	p.close()
	r.log.Info("participant left", "participant", p.id, "reason", reason)
	if changed {
		r.tracksChanged()
	}
	r.node.dropIfEmpty(r)
}

// close ends everyone's media in the room. With a reconnect event, everyone
// is told it first (their room is re-placed elsewhere), and the pushes get
// one second together.
func (r *room) close(ctx context.Context, reconnect *events.MediaReconnect) {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	parts := r.participants()
	if reconnect != nil {
		for _, p := range parts {
			e := *reconnect
			p.send(&e)
		}
		deadline := time.Now().Add(time.Second)
		for _, p := range parts {
			p.flush(ctx, deadline)
		}
	}
	for _, p := range parts {
		r.removeParticipant(p, "room closed")
	}
	r.node.mu.Lock()
	if r.node.rooms[r.code] == r {
		delete(r.node.rooms, r.code)
	}
	r.node.mu.Unlock()
	r.shutdown()
}
