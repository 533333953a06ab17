package localstack_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/testenv"
	"github.com/veet-dev/veet/localstack"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// startStack runs a stack on a real redis-server (or the embedded one when
// opt.EmbeddedRedis), stopped at cleanup.
func startStack(t testing.TB, opt localstack.Options) *localstack.Stack {
	t.Helper()
	if opt.RedisURL == "" && !opt.EmbeddedRedis {
		opt.RedisURL = testenv.StartRedis(t).URL
	}
	if opt.AwayGrace == 0 {
		// A dropped socket's seat goes after a second, not a minute.
		opt.AwayGrace = time.Second
	}
	if opt.Log == nil {
		// Warnings and errors only: they are what a failing test needs.
		opt.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := localstack.Start(ctx, opt)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close stack: %v", err)
		}
	})
	return s
}

// person is one browser tab in a test meeting.
type person struct {
	*wsclient.Client
	id    events.ParticipantID
	token string
	// joined is the Joined reply: the snapshot this person started from.
	joined events.Joined
}

func dial(t *testing.T, s *localstack.Stack, name string) *person {
	t.Helper()
	c := wsclient.Dial(t, s.WSURL(), wsclient.Options{})
	c.Name = name
	return &person{Client: c}
}

// expect waits for the reply to request id and checks its type.
func expect(t *testing.T, p *person, id, typ string, into any) wsclient.Event {
	t.Helper()
	e := p.WaitReply(t, id)
	if e.Type != typ {
		t.Fatalf("%s: reply to %s is %s, want %s", p.Name, id, e, typ)
	}
	if into != nil {
		if err := e.Decode(into); err != nil {
			t.Fatalf("%s: decode %s: %v", p.Name, typ, err)
		}
	}
	return e
}

// createMeeting has host create a meeting and join it with the host token.
func createMeeting(t *testing.T, s *localstack.Stack, name string) (*person, events.RoomCode) {
	t.Helper()
	host := dial(t, s, name)
	var created events.Created
	expect(t, host, host.MustSend(t, "create", map[string]any{"title": name + "'s meeting"}), "created", &created)
	if !created.Code.Valid() || created.HostToken == "" {
		t.Fatalf("created: %+v", created)
	}
	host.token = created.HostToken
	joinWithToken(t, host, created.Code)
	return host, created.Code
}

func joinWithToken(t *testing.T, p *person, code events.RoomCode) {
	t.Helper()
	id := p.MustSend(t, "join", map[string]any{"code": code, "name": p.Name, "token": p.token, "micOn": true, "camOn": false})
	expect(t, p, id, "joined", &p.joined)
	p.id = p.joined.You.ID
	p.token = p.joined.Token
}

// admitGuest has a guest knock, host admit them, and the guest join with
// the participant token the admission gave.
func admitGuest(t *testing.T, s *localstack.Stack, host *person, code events.RoomCode, name string) *person {
	t.Helper()
	g := dial(t, s, name)
	var waiting events.LobbyWaiting
	expect(t, g, g.MustSend(t, "join", map[string]any{"code": code, "name": name}), "lobby_waiting", &waiting)
	var knock events.Knock
	if err := host.WaitFor(t, "knock").Decode(&knock); err != nil || knock.Guest.ID != waiting.You.ID || knock.Guest.Name != name {
		t.Fatalf("host's knock %+v (err %v), want guest %s", knock, err, waiting.You.ID)
	}
	admitID := host.MustSend(t, "admit", map[string]any{"participantId": knock.Guest.ID})
	if e := host.WaitReply(t, admitID); e.Type == "error" {
		t.Fatalf("admit: %s", e)
	}
	var admitted events.Admitted
	if err := g.WaitFor(t, "admitted").Decode(&admitted); err != nil || admitted.Token == "" {
		t.Fatalf("admitted: %+v %v", admitted, err)
	}
	g.token = admitted.Token
	joinWithToken(t, g, code)
	if g.id != waiting.You.ID {
		t.Errorf("%s joined as %s but knocked as %s", name, g.id, waiting.You.ID)
	}
	return g
}

// roomState is the room as Redis has it, seen by a host.
func roomState(t *testing.T, s *localstack.Stack, code events.RoomCode, host *person) events.Room {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := s.State().Snapshot(ctx, code, host.id, events.ConnectionID(connOf(t, s, code, host.id)))
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return r
}

// connOf finds the connection id the room has for a participant.
func connOf(t *testing.T, s *localstack.Stack, code events.RoomCode, pid events.ParticipantID) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	all, err := s.State().Participants(ctx, code)
	if err != nil {
		t.Fatalf("participants of %s: %v", code, err)
	}
	for _, p := range all {
		if p.Participant == pid {
			return string(p.Conn.ConnectionID)
		}
	}
	t.Fatalf("%s has no connection in %s", pid, code)
	return ""
}

func ids(r events.Room) []events.ParticipantID {
	var out []events.ParticipantID
	for _, p := range r.Participants {
		out = append(out, p.ID)
	}
	return out
}

// checkSeqs asserts that the presence events p got after its snapshot have
// strictly increasing sequence numbers, all above the snapshot's, and that
// no gap in them went unnoticed by the test (gaps are logged: a client
// resyncs on one, so they cost a round trip).
func checkSeqs(t *testing.T, p *person) {
	t.Helper()
	last := p.joined.Room.Seq
	for _, e := range p.All() {
		if e.Seq == 0 || e.Type == "joined" {
			continue
		}
		if e.Type == "snapshot" {
			// A snapshot restates the room at its current seq.
			if e.Seq < last {
				t.Errorf("%s: snapshot has seq %d after %d", p.Name, e.Seq, last)
			}
			last = e.Seq
			continue
		}
		if e.Seq <= last {
			t.Errorf("%s: %s has seq %d after %d", p.Name, e.Type, e.Seq, last)
		} else if e.Seq != last+1 {
			t.Logf("%s: gap before %s: seq %d after %d", p.Name, e.Type, e.Seq, last)
		}
		last = e.Seq
	}
}
