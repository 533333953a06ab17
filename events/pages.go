package events

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Nothing the server sends grows with the room: API Gateway refuses a
// message over MaxMessage (413), and the client would get nothing. A room's
// participants and lobby go in pages of at most PageBytes of JSON entries
// (a joined or snapshot, then RoomPage events), and a presence batch in
// messages of at most PageBytes of changes. The rest of any message (ids, a
// token, a title) is a few KB at most, far inside the limit.
const (
	// MaxMessage is API Gateway's WebSocket message limit, both ways.
	MaxMessage = 128 * 1024
	// PageBytes bounds the entries of one page, in bytes of their JSON.
	PageBytes = 64 * 1024
)

// Presence is a batch of a room's changes, in the order they happened: the
// room's media node sends one to each participant every so often (see
// PROTOCOL.md, Presence) instead of one message per change. Each change is
// itself a participant_joined, participant_left, participant_updated,
// room_updated or all_muted event (sequenced: each carries its seq), or,
// for hosts and co-hosts, a knock or lobby_left (no seq).
type Presence struct {
	Meta
	Changes []json.RawMessage `json:"changes" ts:"PresenceChange[]"`
}

// ChangeEvents are the events a Presence batch carries, for the TypeScript
// generator's PresenceChange union.
func ChangeEvents() []Event {
	return []Event{&ParticipantJoined{}, &ParticipantLeft{}, &ParticipantUpdated{}, &RoomUpdated{}, &AllMuted{}, &Knock{}, &LobbyLeft{}}
}

// Decode returns the batch's changes as their event types.
func (p *Presence) Decode() ([]Event, error) {
	out := make([]Event, 0, len(p.Changes))
	for _, raw := range p.Changes {
		e, err := DecodeChange(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// DecodeChange decodes one change of a Presence batch.
func DecodeChange(raw []byte) (Event, error) {
	var head struct {
		Type EventType `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("presence change: %w", err)
	}
	for _, e := range ChangeEvents() {
		if e.EventType() == head.Type {
			if err := json.Unmarshal(raw, e); err != nil {
				return nil, fmt.Errorf("presence change %s: %w", head.Type, err)
			}
			return e, nil
		}
	}
	return nil, fmt.Errorf("presence change of unknown type %q", head.Type)
}

// Batches packs encoded changes, in order, into presence messages of at most
// PageBytes of changes each (one change is never split; a change is well
// under a page). Each message is the JSON of a Presence event.
func Batches(changes [][]byte) [][]byte {
	const head, tail = `{"type":"presence","changes":[`, `]}`
	var out [][]byte
	var b bytes.Buffer
	n := 0
	for _, c := range changes {
		if n > 0 && b.Len()+len(c)+1 > PageBytes+len(head) {
			b.WriteString(tail)
			out = append(out, bytes.Clone(b.Bytes()))
			b.Reset()
			n = 0
		}
		if n == 0 {
			b.WriteString(head)
		} else {
			b.WriteByte(',')
		}
		b.Write(c)
		n++
	}
	if n > 0 {
		b.WriteString(tail)
		out = append(out, bytes.Clone(b.Bytes()))
	}
	return out
}

// AllMuted: a host muted every microphone but their own (mute_all). Every
// participant but By has micOn false from this seq on; a client whose
// microphone was on turns it off, as after muted.
type AllMuted struct {
	Meta
	By ParticipantID `json:"by"`
}

// RoomPage is one more page of a joined or snapshot reply whose room took
// more than one message: the same id and seq, page 2..pages. A client
// applies the room once it has every page.
type RoomPage struct {
	Meta
	Page         int           `json:"page"`
	Pages        int           `json:"pages"`
	Participants []Participant `json:"participants"`
	Lobby        []Guest       `json:"lobby"`
}

// PageRoom splits a room into pages of at most budget bytes of entries
// (participants first, then the lobby, in the room's order). The first
// page stays in the returned room; the others come back as RoomPage events
// without id and seq (the caller names its reply). pages is 1 when the room
// fits in one.
func PageRoom(r Room, budget int) (first Room, rest []*RoomPage, pages int) {
	type page struct {
		parts []Participant
		lobby []Guest
	}
	all := []*page{{}}
	size := 0
	// next is the page an entry of n bytes goes on: a new one when it would
	// overflow the current one (an entry is never split).
	next := func(n int) *page {
		cur := all[len(all)-1]
		if size+n+1 > budget && (len(cur.parts) > 0 || len(cur.lobby) > 0) {
			cur = &page{}
			all = append(all, cur)
			size = 0
		}
		size += n + 1
		return cur
	}
	for _, p := range r.Participants {
		b, _ := json.Marshal(p)
		pg := next(len(b))
		pg.parts = append(pg.parts, p)
	}
	for _, g := range r.Lobby {
		b, _ := json.Marshal(g)
		pg := next(len(b))
		pg.lobby = append(pg.lobby, g)
	}
	first = r
	first.Participants = nonNil(all[0].parts)
	first.Lobby = nonNilG(all[0].lobby)
	for i, pg := range all[1:] {
		rest = append(rest, &RoomPage{Page: i + 2, Pages: len(all), Participants: nonNil(pg.parts), Lobby: nonNilG(pg.lobby)})
	}
	return first, rest, len(all)
}

func nonNil(p []Participant) []Participant {
	if p == nil {
		return []Participant{}
	}
	return p
}

func nonNilG(g []Guest) []Guest {
	if g == nil {
		return []Guest{}
	}
	return g
}
