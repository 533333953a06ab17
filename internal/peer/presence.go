package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/veet-dev/veet/events"
)

// holdBack is how long an out-of-order presence delta waits for the ones
// before it before the peer asks for a snapshot (PROTOCOL.md: pushes from
// concurrent handlers overtake one another).
const holdBack = 500 * time.Millisecond

// presence is the peer's view of who is in the meeting, kept from joined and
// snapshots plus the seq-ordered deltas after them, as the SPA keeps it.
type presence struct {
	mu      sync.Mutex
	seq     uint64
	view    map[events.ParticipantID]bool
	held    map[uint64]wsEvent
	gapAt   time.Time // when the oldest held delta arrived
	gaps    int       // gaps that outlived holdBack (a resync followed)
	deltas  int
	asking  bool
	started bool
}

type seqRoom struct {
	Room struct {
		Seq          uint64               `json:"seq"`
		Participants []events.Participant `json:"participants"`
	} `json:"room"`
}

func (s *presence) snapshot(data []byte) {
	var r seqRoom
	if json.Unmarshal(data, &r) != nil || (s.started && r.Room.Seq < s.seq) {
		return
	}
	s.started = true
	s.seq = r.Room.Seq
	s.view = map[events.ParticipantID]bool{}
	for _, p := range r.Room.Participants {
		s.view[p.ID] = true
	}
	for q := range s.held {
		if q <= s.seq {
			delete(s.held, q)
		}
	}
	s.asking = false
	s.drain()
}

// note folds one event in; a gap that lasts holdBack asks for a snapshot.
func (s *presence) note(p *Peer, e wsEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Type {
	case events.TypeJoined, events.TypeSnapshot:
		s.snapshot(e.raw)
		return
	case events.TypeParticipantJoined, events.TypeParticipantLeft, events.TypeParticipantUpdated, events.TypeRoomUpdated:
	default:
		return
	}
	if !s.started || e.Seq == 0 || e.Seq <= s.seq {
		return
	}
	s.deltas++
	if s.held == nil {
		s.held = map[uint64]wsEvent{}
	}
	s.held[e.Seq] = e
	s.drain()
	if len(s.held) > 0 && s.gapAt.IsZero() {
		s.gapAt = time.Now()
		time.AfterFunc(holdBack, func() { s.check(p) })
	}
}

// drain applies held deltas that are next in order. Call with mu.
func (s *presence) drain() {
	for {
		e, ok := s.held[s.seq+1]
		if !ok {
			break
		}
		delete(s.held, s.seq+1)
		s.seq++
		var d struct {
			Participant   events.Participant   `json:"participant"`
			ParticipantID events.ParticipantID `json:"participantId"`
		}
		_ = json.Unmarshal(e.raw, &d)
		switch e.Type {
		case events.TypeParticipantJoined, events.TypeParticipantUpdated:
			s.view[d.Participant.ID] = true
		case events.TypeParticipantLeft:
			delete(s.view, d.ParticipantID)
		}
	}
	if len(s.held) == 0 {
		s.gapAt = time.Time{}
	}
}

func (s *presence) check(p *Peer) {
	s.mu.Lock()
	ask := len(s.held) > 0 && !s.asking && time.Since(s.gapAt) >= holdBack
	if ask {
		s.gaps++
		s.asking = true
		s.gapAt = time.Time{}
	}
	s.mu.Unlock()
	if ask {
		_, _ = p.send("resync", nil)
	}
}

// Presence is what the peer's view holds: who, at which seq, and how often
// it had to ask for a snapshot.
type Presence struct {
	Seq          uint64
	Participants []events.ParticipantID
	Deltas, Gaps int
}

// Presence returns the peer's view.
func (p *Peer) Presence() Presence {
	s := &p.seq
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Presence{Seq: s.seq, Deltas: s.deltas, Gaps: s.gaps}
	for id := range s.view {
		out.Participants = append(out.Participants, id)
	}
	slices.Sort(out.Participants)
	return out
}

// CheckPresence asks the server for a snapshot and compares it with the
// peer's own view: the number of participants either side has and the other
// lacks is what the peer lost (zero when presence worked).
func (p *Peer) CheckPresence(ctx context.Context) (lost int, err error) {
	mine := p.Presence()
	m, code, err := p.Request(ctx, "resync", nil)
	if err != nil {
		return 0, err
	}
	if m.Type != events.TypeSnapshot {
		return 0, fmt.Errorf("resync answered %s %s", m.Type, code)
	}
	theirs := p.Presence() // the snapshot was folded in by handle
	for _, id := range mine.Participants {
		if !slices.Contains(theirs.Participants, id) {
			lost++
		}
	}
	for _, id := range theirs.Participants {
		if !slices.Contains(mine.Participants, id) {
			lost++
		}
	}
	return lost, nil
}
