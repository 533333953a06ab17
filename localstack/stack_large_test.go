package localstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/token"
	"github.com/veet-dev/veet/localstack"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// longName is as long as a name gets on the wire (128 bytes of JSON): each
// "<" is sent as \u003c. Issue 11 filled a lobby with names like these and
// the host could no longer load their own meeting.
func longName(i int) string { return strings.Repeat("<", 21) + fmt.Sprintf("%02d", i%100) }

// assembled puts together the room of the reply to id (a joined or a
// snapshot) from its pages, checking that no message c got is over the
// limit.
func assembled(t *testing.T, c *wsclient.Client, id string) events.Room {
	t.Helper()
	var head struct {
		Type  string      `json:"type"`
		Pages int         `json:"pages"`
		Room  events.Room `json:"room"`
	}
	if err := c.WaitReply(t, id).Decode(&head); err != nil {
		t.Fatal(err)
	}
	room := head.Room
	for page := 2; page <= head.Pages; page++ {
		e, ok := c.Next(func(e wsclient.Event) bool { return e.Type == "room_page" && e.ID == id }, 10*time.Second)
		if !ok {
			t.Fatalf("%s: page %d of %d of the reply to %s never came", c.Name, page, head.Pages, id)
		}
		var p events.RoomPage
		if err := e.Decode(&p); err != nil || p.Page != page || p.Pages != head.Pages || p.Seq != room.Seq {
			t.Fatalf("%s: page %+v (err %v), want page %d of %d at seq %d", c.Name, p, err, page, head.Pages, room.Seq)
		}
		room.Participants = append(room.Participants, p.Participants...)
		room.Lobby = append(room.Lobby, p.Lobby...)
	}
	for _, e := range c.All() {
		if !e.InBatch && len(e.Raw) > events.MaxMessage {
			t.Fatalf("%s got a %s of %d bytes", c.Name, e.Type, len(e.Raw))
		}
	}
	return room
}

// TestStackLargeMeetingArrivesWhole: a meeting of 600 and a full lobby of
// 200, every name as long as names get. The host's snapshot and a fresh
// join's room arrive whole, in pages under 128 KB; the 201st knock is
// refused lobby_full and changes nothing; admit_all lets all 200 in and
// each of them joins.
func TestStackLargeMeetingArrivesWhole(t *testing.T) {
	s := startStack(t, localstack.Options{Nodes: 1})
	host, code := createMeeting(t, s, "host")
	sign := func() string {
		tok, err := s.Tokens().Sign(token.Claims{Room: code, Participant: events.NewParticipantID(), Role: events.RoleParticipant}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Everyone dials and joins, a few at a time.
	parallel := func(n int, do func(i int)) {
		var wg sync.WaitGroup
		work := make(chan int)
		for range 8 {
			wg.Go(func() {
				for i := range work {
					do(i)
				}
			})
		}
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
	}
	const seated, waiting = 600, 200
	start := time.Now()
	defer func() { t.Logf("took %s", time.Since(start)) }()
	parallel(seated, func(i int) {
		c := wsclient.Dial(t, s.WSURL(), wsclient.Options{})
		c.Name = fmt.Sprint("p", i)
		id := c.MustSend(t, "join", map[string]any{"code": code, "name": longName(i), "token": sign()})
		if e := c.WaitReply(t, id); e.Type != "joined" {
			t.Errorf("%s: %s", c.Name, e)
		}
	})
	guests := make([]*wsclient.Client, waiting)
	parallel(waiting, func(i int) {
		c := wsclient.Dial(t, s.WSURL(), wsclient.Options{})
		c.Name = fmt.Sprint("g", i)
		id := c.MustSend(t, "join", map[string]any{"code": code, "name": longName(i), "guest": fmt.Sprint("key-", i)})
		if e := c.WaitReply(t, id); e.Type != "lobby_waiting" {
			t.Errorf("%s: %s", c.Name, e)
		}
		guests[i] = c
	})
	if t.Failed() {
		t.FailNow()
	}
	late := dial(t, s, "late")
	if e := late.WaitReply(t, late.MustSend(t, "join", map[string]any{"code": code, "name": longName(0)})); e.Code != "lobby_full" {
		t.Fatalf("the 201st knock: %s", e)
	}

	// The host asks for the room: all of it, names intact.
	room := assembled(t, host.Client, host.MustSend(t, "resync", nil))
	if len(room.Participants) != seated+1 || len(room.Lobby) != waiting {
		t.Fatalf("host's snapshot: %d participants and %d waiting, want %d and %d", len(room.Participants), len(room.Lobby), seated+1, waiting)
	}
	for _, g := range room.Lobby {
		if !strings.HasPrefix(g.Name, strings.Repeat("<", 21)) || len(g.Name) != 23 {
			t.Fatalf("a guest's name came out as %q", g.Name)
		}
	}
	// A newcomer's joined carries the whole room too (no lobby: not a host).
	newcomer := dial(t, s, "newcomer")
	room = assembled(t, newcomer.Client, newcomer.MustSend(t, "join", map[string]any{"code": code, "name": "New", "token": sign()}))
	if len(room.Participants) != seated+2 || len(room.Lobby) != 0 {
		t.Fatalf("newcomer's room: %d participants, %d waiting", len(room.Participants), len(room.Lobby))
	}

	// admit_all: every guest is let in and joins with the token it got.
	if e := host.WaitReply(t, host.MustSend(t, "admit_all", nil)); e.Type != "ack" {
		t.Fatalf("admit_all: %s", e)
	}
	parallel(waiting, func(i int) {
		g := guests[i]
		e, ok := g.Next(func(e wsclient.Event) bool { return e.Type == "admitted" }, 10*time.Second)
		var adm events.Admitted
		if !ok || json.Unmarshal(e.Raw, &adm) != nil {
			t.Errorf("%s was never admitted", g.Name)
			return
		}
		id := g.MustSend(t, "join", map[string]any{"code": code, "name": longName(i), "token": adm.Token})
		if e := g.WaitReply(t, id); e.Type != "joined" {
			t.Errorf("%s: %s", g.Name, e)
		}
	})
	room = roomState(t, s, code, host)
	if len(room.Participants) != seated+2+waiting || len(room.Lobby) != 0 {
		t.Fatalf("after admit_all: %d participants, %d waiting", len(room.Participants), len(room.Lobby))
	}
}

// TestStackNodeFindsAGoneSocket: a socket that vanished without a
// $disconnect (API Gateway's is best-effort) is found by the room's node
// when it pushes the next change (410): the participant is shown
// reconnecting, then leaves when they do not come back.
func TestStackNodeFindsAGoneSocket(t *testing.T) {
	s := startStack(t, localstack.Options{Nodes: 1})
	host, code := createMeeting(t, s, "host")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The ghost holds a seat on a connection the gateway does not have.
	ghost := events.Participant{ID: events.NewParticipantID(), Name: "Ghost", Role: events.RoleParticipant, JoinedAt: time.Now().UnixMilli()}
	ref := events.ConnRef{ConnectionID: "ghost-conn", Endpoint: s.URL()}
	res, err := s.State().Join(ctx, state.JoinInput{Code: code, Conn: ref, Region: localstack.Region, Participant: ghost})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.New(s.Redis(), nil).Send(ctx, res.Node, events.Command{Type: events.CmdJoin, Room: code, Participant: ghost.ID,
		Conn: ref, Epoch: res.Epoch, Log: res.Log.String(), Seq: res.Room.Seq, Meta: res.Meta}); err != nil {
		t.Fatal(err)
	}
	// The host sees the ghost arrive; the push of the next change (the host
	// raises a hand) to the ghost finds its socket gone.
	sawGhost := func(typ string, ok func(map[string]any) bool) {
		t.Helper()
		_, found := host.Next(func(e wsclient.Event) bool {
			var m map[string]any
			_ = json.Unmarshal(e.Raw, &m)
			p, _ := m["participant"].(map[string]any)
			return e.Type == typ && (p["id"] == string(ghost.ID) || m["participantId"] == string(ghost.ID)) && ok(m)
		}, 10*time.Second)
		if !found {
			t.Fatalf("host never saw the ghost's %s; got %s", typ, host.Dump())
		}
	}
	sawGhost("participant_joined", func(map[string]any) bool { return true })
	if e := host.WaitReply(t, host.MustSend(t, "update", map[string]any{"handRaised": true})); e.Type != "ack" {
		t.Fatalf("update: %s", e)
	}
	sawGhost("participant_updated", func(m map[string]any) bool { return m["participant"].(map[string]any)["reconnecting"] == true })
	sawGhost("participant_left", func(m map[string]any) bool { return m["reason"] == "disconnected" })
}
