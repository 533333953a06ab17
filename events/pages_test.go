package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// worstName is a name as long as a name gets on the wire: 21 characters
// that JSON escapes to six bytes each, plus two plain ones (128 bytes).
func worstName(i int) string {
	n := strings.Repeat("<", 21) + fmt.Sprintf("%02d", i%100)
	if encodedLen(n) != MaxNameBytes {
		panic(fmt.Sprint(encodedLen(n)))
	}
	return n
}

func bigRoom(participants, lobby int) Room {
	r := Room{Code: "abc-defg-hij", Title: strings.Repeat("&", MaxTitleBytes/6), Seq: 12345}
	for i := range participants {
		r.Participants = append(r.Participants, Participant{ID: ParticipantID(fmt.Sprintf("p_%012d", i)), Name: worstName(i),
			Role: RoleParticipant, MicOn: true, CamOn: true, ScreenOn: true, HandRaised: true, JoinedAt: 1764000000000 + int64(i), Reconnecting: true})
	}
	for i := range lobby {
		r.Lobby = append(r.Lobby, Guest{ID: ParticipantID(fmt.Sprintf("g_%012d", i)), Name: worstName(i), KnockedAt: 1764000000000 + int64(i)})
	}
	return r
}

// TestPageRoomBoundsEveryMessage: a 1,000-person meeting with a full lobby,
// every name as long as names get, goes out in messages under API Gateway's
// limit, and the pages put together are the room, in order.
func TestPageRoomBoundsEveryMessage(t *testing.T) {
	room := bigRoom(1000, 200)
	first, rest, pages := PageRoom(room, PageBytes)
	if pages != len(rest)+1 || pages < 4 {
		t.Fatalf("pages %d, rest %d", pages, len(rest))
	}
	joined := Reply("j-"+strings.Repeat("x", 60), &Joined{You: room.Participants[0], Token: strings.Repeat("t", MaxTokenLen), Room: first, Pages: pages})
	joined.Epoch, joined.Session = 1764000000000, strings.Repeat("s", 64)
	msgs := []Event{joined}
	for _, p := range rest {
		msgs = append(msgs, WithSeq(room.Seq, Reply(joined.ID, p)))
	}
	var parts []Participant
	var lobby []Guest
	for i, m := range msgs {
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxMessage {
			t.Errorf("message %d is %d bytes, over %d", i+1, len(b), MaxMessage)
		}
		switch m := m.(type) {
		case *Joined:
			parts, lobby = append(parts, m.Room.Participants...), append(lobby, m.Room.Lobby...)
		case *RoomPage:
			if m.Page != i+1 || m.Pages != pages {
				t.Errorf("page %d says %d of %d", i+1, m.Page, m.Pages)
			}
			parts, lobby = append(parts, m.Participants...), append(lobby, m.Lobby...)
		}
	}
	if len(parts) != 1000 || len(lobby) != 200 {
		t.Fatalf("pages hold %d participants and %d guests", len(parts), len(lobby))
	}
	for i := range parts {
		if parts[i] != room.Participants[i] {
			t.Fatalf("participant %d out of order", i)
		}
	}
	for i := range lobby {
		if lobby[i] != room.Lobby[i] {
			t.Fatalf("guest %d out of order", i)
		}
	}
}

func TestPageRoomSmallRoomIsOneMessage(t *testing.T) {
	first, rest, pages := PageRoom(bigRoom(3, 1), PageBytes)
	if pages != 1 || rest != nil || len(first.Participants) != 3 || len(first.Lobby) != 1 {
		t.Fatalf("pages %d rest %v first %+v", pages, rest, first)
	}
	first, _, _ = PageRoom(Room{Code: "abc-defg-hij"}, PageBytes)
	if first.Participants == nil || first.Lobby == nil {
		t.Fatal("an empty room must encode [] lists, not null")
	}
}

// TestBatchesKeepOrderUnderTheLimit: however many changes pile up, each
// presence message stays under the limit and together they are the changes
// in order.
func TestBatchesKeepOrderUnderTheLimit(t *testing.T) {
	var changes [][]byte
	for i := range 3000 {
		p := bigRoom(1, 0).Participants[0]
		p.ID = ParticipantID(fmt.Sprintf("p_%012d", i))
		b, _ := Marshal(WithSeq(uint64(i+1), &ParticipantUpdated{Participant: p}))
		changes = append(changes, b)
	}
	msgs := Batches(changes)
	if len(msgs) < 5 {
		t.Fatalf("%d messages for %d changes", len(msgs), len(changes))
	}
	var seq uint64
	for _, m := range msgs {
		if len(m) > MaxMessage {
			t.Fatalf("batch of %d bytes", len(m))
		}
		var p Presence
		if err := json.Unmarshal(m, &p); err != nil || p.Type != TypePresence {
			t.Fatalf("%v %s", err, m[:80])
		}
		evs, err := p.Decode()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if MetaOf(e).Seq != seq+1 {
				t.Fatalf("seq %d after %d", MetaOf(e).Seq, seq)
			}
			seq++
		}
	}
	if seq != 3000 {
		t.Fatalf("%d changes came out", seq)
	}
	if Batches(nil) != nil {
		t.Fatal("no changes, no message")
	}
}
