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
	// asm is a joined or snapshot whose room comes in pages, being put
	// together (PROTOCOL.md, Pages).
	asm     *assembly
	snapSeq uint64
}

type assembly struct {
	id    string
	seq   uint64
	force bool
	pages int
	got   map[int][]events.Participant
}

type seqRoom struct {
	ID    string `json:"id"`
	Pages int    `json:"pages"`
	Room  struct {
		Seq          uint64               `json:"seq"`
		Participants []events.Participant `json:"participants"`
	} `json:"room"`
}

// room takes a joined or snapshot: applied at once when whole, else the
// first page of an assembly.
func (s *presence) room(data []byte, force bool) {
	var r seqRoom
	if json.Unmarshal(data, &r) != nil {
		return
	}
	if r.Pages > 1 {
		s.asm = &assembly{id: r.ID, seq: r.Room.Seq, force: force, pages: r.Pages,
			got: map[int][]events.Participant{1: r.Room.Participants}}
		return
	}
	s.snapshot(r.Room.Seq, r.Room.Participants, force)
}

// page adds a room_page to the assembly it belongs to, and applies the
// room once every page is in.
func (s *presence) page(data []byte) {
	var pg events.RoomPage
	if json.Unmarshal(data, &pg) != nil || s.asm == nil || pg.ID != s.asm.id || pg.Seq != s.asm.seq {
		return
	}
	s.asm.got[pg.Page] = pg.Participants
	if len(s.asm.got) < s.asm.pages {
		return
	}
	var all []events.Participant
	for i := 1; i <= s.asm.pages; i++ {
		all = append(all, s.asm.got[i]...)
	}
	a := s.asm
	s.asm = nil
	s.snapshot(a.seq, all, a.force)
}

func (s *presence) snapshot(seq uint64, parts []events.Participant, force bool) {
	if !force && s.started && seq < s.seq {
		return
	}
	s.started = true
	s.seq, s.snapSeq = seq, seq
	s.view = map[events.ParticipantID]bool{}
	for _, p := range parts {
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
	case events.TypeJoined:
		s.room(e.raw, true)
		s.holdGap(p) // a gap beyond the room waits its own hold-back
	case events.TypeSnapshot:
		s.room(e.raw, false)
		s.holdGap(p)
	case events.TypeRoomPage:
		s.page(e.raw)
		s.holdGap(p)
	case events.TypePresence:
		var b events.Presence
		if json.Unmarshal(e.raw, &b) != nil {
			return
		}
		for _, raw := range b.Changes {
			var c struct {
				wsEvent
				Participant   struct{ ID events.ParticipantID } `json:"participant"`
				ParticipantID events.ParticipantID              `json:"participantId"`
			}
			if json.Unmarshal(raw, &c) == nil {
				c.raw = raw
				if p.opt.OnChange != nil {
					p.opt.OnChange(c.Type, c.Seq, c.Participant.ID+c.ParticipantID)
				}
				s.delta(p, c.wsEvent)
			}
		}
	}
}

// delta folds one presence change in, in seq order, holding back those
// that come early (before the snapshot they follow, or ahead of a gap).
func (s *presence) delta(p *Peer, e wsEvent) {
	switch e.Type {
	case events.TypeParticipantJoined, events.TypeParticipantLeft, events.TypeParticipantUpdated, events.TypeRoomUpdated, events.TypeAllMuted:
	default:
		return
	}
	if e.Seq == 0 || (s.started && e.Seq <= s.seq) {
		return
	}
	s.deltas++
	if s.held == nil {
		s.held = map[uint64]wsEvent{}
	}
	s.held[e.Seq] = e
	if !s.started {
		return // the snapshot it follows is on its way (the joined reply)
	}
	s.drain()
	s.holdGap(p)
}

// holdGap starts the hold-back clock when changes wait behind a gap (once
// per gap). Call with mu.
func (s *presence) holdGap(p *Peer) {
	if s.started && len(s.held) > 0 && s.gapAt.IsZero() {
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
	ask := len(s.held) > 0 && !s.asking && s.asm == nil && time.Since(s.gapAt) >= holdBack
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
	// Started: the peer has a room (its joined, every page of it);
	// SnapshotSeq is the seq of the last one it applied.
	Started     bool
	SnapshotSeq uint64
}

// Presence returns the peer's view.
func (p *Peer) Presence() Presence {
	s := &p.seq
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Presence{Seq: s.seq, Deltas: s.deltas, Gaps: s.gaps, Started: s.started, SnapshotSeq: s.snapSeq}
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
