package sfu

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/state"
)

// Presence reaches a room's participants from its node, the one process
// that serves the room for as long as it lasts. Every change is in the
// room's log in Redis (written by the script that made it); the node reads
// what is new, at most every presenceTick, and hands each participant the
// changes it has not seen, which its sender pushes as one presence message
// (events.Batches) through the same ordered queue as the participant's
// media events. So a change costs one Redis read per room and, in a busy
// room, far less than one message per participant; and changes arrive in
// order (they used to race from concurrent Lambdas).
//
// A node that dies loses nothing: its rooms' participants join the next
// node, each with a snapshot at a log position, and that node pushes the
// log from there. A node that misses a wake-up catches up at its next look
// at the log (checkOwnership, every second).

const (
	// presenceTick is how often at most a room's log is read: one batch
	// holds up to this much of a room's changes.
	presenceTick = 100 * time.Millisecond
	// DefaultPresenceBudget is how many presence messages a second a node
	// sends, all rooms together. A post through API Gateway costs about
	// 150 µs of CPU on the local stack's 2-core machine (SDK, HTTP, the
	// gateway, the client's read: docs/benchmarks.md), so this is about a
	// third of a core. Hosts and co-hosts get every batch; everyone else at
	// most one per participants/budget seconds: ten a second up to 200
	// participants on the node, twice a second at 1,000.
	DefaultPresenceBudget = 2000
	// keepRecent is how many changes a room keeps after pushing them, for
	// a participant whose join is behind what the room has read (its join
	// command came after later changes were pushed).
	keepRecent = 512
	// maxPending bounds the changes waiting for one participant's socket;
	// past it the oldest go (the client sees a seq gap and resyncs).
	maxPending = 10_000
	logBatch   = 500
)

// wake asks the room's presence loop to read the log.
func (r *room) wake() {
	select {
	case r.wakeCh <- struct{}{}:
	default:
	}
}

// presenceLoop reads the room's log when woken, at most every presenceTick.
func (r *room) presenceLoop() {
	var last time.Time
	for {
		select {
		case <-r.stop:
			return
		case <-r.wakeCh:
		}
		if wait := presenceTick - time.Since(last); wait > 0 {
			select {
			case <-r.stop:
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		r.pushPresence()
	}
}

// pushPresence reads the room's new changes and gives each participant
// those it has not had. A room this node handed over to another (a drain)
// pushes nothing: its participants joined the room there, with a snapshot,
// and that node pushes them what follows on the same sockets.
func (r *room) pushPresence() {
	if r.handedOver.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if r.resetFeed.CompareAndSwap(true, false) {
		r.feedMu.Lock()
		r.logAt, r.recentFrom, r.recent = state.LogID{}, state.LogID{}, nil
		r.feedMu.Unlock()
	}
	before := r.logAt
	var fresh []state.LogEntry
	for {
		batch, err := r.node.state.ReadLog(ctx, r.code, r.logAt, logBatch)
		if err != nil {
			// Redis out of reach: the ownership check wakes the room again.
			r.log.Debug("presence: log read failed", "err", err)
			break
		}
		fresh = append(fresh, batch...)
		if len(batch) > 0 {
			r.feedMu.Lock()
			r.logAt = batch[len(batch)-1].ID
			r.feedMu.Unlock()
		}
		if len(batch) < logBatch {
			break
		}
	}
	for _, p := range r.participants() {
		var entries []state.LogEntry
		p.pmu.Lock()
		at := p.logAt
		p.pmu.Unlock()
		if before.After(at) {
			entries = r.since(ctx, at, before)
		}
		entries = append(entries, fresh...)
		if p.take(entries) {
			p.poke()
		}
	}
	r.recent = append(r.recent, fresh...)
	if n := len(r.recent) - keepRecent; n > 0 {
		r.recentFrom = r.recent[n-1].ID
		r.recent = slices.Delete(r.recent, 0, n)
	}
}

// since returns the changes after at up to upTo (what the room had read
// before): for a participant whose join is behind the room. They come from
// the ones the room keeps or, when the join is older than those, the log.
func (r *room) since(ctx context.Context, at, upTo state.LogID) []state.LogEntry {
	if !r.recentFrom.After(at) {
		i := sort.Search(len(r.recent), func(i int) bool { return r.recent[i].ID.After(at) })
		return slices.Clone(r.recent[i:])
	}
	var out []state.LogEntry
	for {
		batch, err := r.node.state.ReadLog(ctx, r.code, at, logBatch)
		if err != nil {
			r.log.Debug("presence: log read failed", "err", err)
			return out
		}
		for _, e := range batch {
			if e.ID.After(upTo) {
				return out
			}
			out = append(out, e)
		}
		if len(batch) < logBatch {
			return out
		}
		at = batch[len(batch)-1].ID
	}
}

// lobbyChange reports whether a change is the lobby's: hosts and co-hosts
// only see those.
func lobbyChange(e events.Event) bool {
	switch e.(type) {
	case *events.Knock, *events.LobbyLeft:
		return true
	}
	return false
}

// take adds the changes after the participant's log position to what its
// sender has to push, in order; it reports whether it added any.
func (p *participant) take(entries []state.LogEntry) bool {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	added := false
	for _, e := range entries {
		if !e.ID.After(p.logAt) {
			continue
		}
		p.logAt = e.ID
		if e.Event == nil {
			continue
		}
		// A role change of the participant's own counts from here on.
		var who *events.Participant
		switch c := e.Event.(type) {
		case *events.ParticipantUpdated:
			who = &c.Participant
		case *events.ParticipantJoined:
			who = &c.Participant
		}
		if who != nil && who.ID == p.id {
			p.mod = who.Role.Moderates()
		}
		if (lobbyChange(e.Event) && !p.mod) || p.gone.Load() {
			continue
		}
		p.pending = append(p.pending, e.Change)
		added = true
	}
	if n := len(p.pending) - maxPending; n > 0 {
		p.log.Warn("presence: socket too far behind; dropping its oldest changes", "dropped", n)
		p.pending = slices.Delete(p.pending, 0, n)
	}
	return added
}

// joined sets where in the room's log the participant starts (its join
// reply's room is at at) and whether it moderates: changes before are in
// its snapshot, and any still waiting for an earlier socket are dropped.
func (p *participant) joined(at state.LogID, mod bool) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	p.logAt, p.mod, p.pending = at, mod, nil
}

// batchEvery is how long a participant who does not moderate waits between
// presence messages: the node's budget shared by everyone it serves.
func (p *participant) batchEvery() time.Duration {
	n := p.room.node
	d := time.Duration(float64(time.Second) * float64(n.people.Load()) / float64(n.cfg.PresenceBudget))
	if d < presenceTick {
		return 0
	}
	return d
}

// pushCoalesced pushes the newest room-wide media events and, when its
// time has come, a presence batch; it returns how long until the batch
// may go when it must wait.
func (p *participant) pushCoalesced() time.Duration {
	p.pmu.Lock()
	// The map is taken only when it has something: an empty one stays the
	// participant's, and ranging over it after the unlock raced with
	// sendCurrent's writes (a concurrent map read and write can end the
	// process; the race detector caught it).
	var latest map[events.EventType]events.Event
	if len(p.latest) > 0 {
		latest, p.latest = p.latest, map[events.EventType]events.Event{}
	}
	var changes [][]byte
	wait := time.Until(p.nextBatch)
	if len(p.pending) > 0 && (wait <= 0 || p.mod) {
		changes, p.pending = p.pending, nil
		p.nextBatch = time.Now().Add(p.batchEvery())
		wait = 0
	} else if len(p.pending) == 0 {
		wait = 0
	}
	p.pmu.Unlock()
	if p.gone.Load() {
		return 0
	}
	for _, e := range latest {
		p.post(e.EventType(), func(ctx context.Context, to events.ConnRef) error {
			data, err := events.Marshal(e)
			if err != nil {
				return err
			}
			return p.room.node.push.Post(ctx, to, data)
		})
	}
	for _, msg := range events.Batches(changes) {
		p.post(events.TypePresence, func(ctx context.Context, to events.ConnRef) error {
			return p.room.node.push.Post(ctx, to, msg)
		})
	}
	return wait
}

// moderates reports whether meta makes pid a host or co-host.
func moderates(meta *events.RoomMeta, pid events.ParticipantID) bool {
	return meta != nil && (meta.Host == pid || slices.Contains(meta.Cohosts, pid))
}
