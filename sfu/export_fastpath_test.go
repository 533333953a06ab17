package sfu

import (
	"time"

	"github.com/veet-dev/veet/events"
)

// SubscribeSide is what the packet path did for one participant's
// subscribe connection.
type SubscribeSide struct {
	Batched   bool   // the node sends its copies itself (sendmmsg)
	Copies    uint64 // sent batched, as of ~0.1 s ago
	PionCopy  uint64 // sent through pion's stream
	Feedbacks uint64 // transport-wide congestion feedback packets received
	RTCPIn    uint64 // SRTCP packets the node read off its socket itself
	// RTT is the longest round trip the subscriber's receiver reports on
	// the node's sender reports gave, over its tracks.
	RTT time.Duration
}

// SubscribeSide reports on participant pid of room (ok false when it is
// not on this node).
func (n *Node) SubscribeSide(room events.RoomCode, pid events.ParticipantID) (s SubscribeSide, ok bool) {
	r := n.room(room)
	if r == nil {
		return s, false
	}
	p := r.participant(pid)
	if p == nil {
		return s, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ses := p.session
	if ses == nil {
		return s, false
	}
	s.Batched, s.Feedbacks = ses.tr.Batched(), ses.tr.Feedbacks()
	s.RTCPIn, _ = ses.tr.RTCPIn()
	for _, d := range ses.downs {
		b, slow := d.dt.Sent()
		s.Copies += b
		s.PionCopy += slow
		s.RTT = max(s.RTT, d.dt.Report().RTT)
	}
	return s, true
}
