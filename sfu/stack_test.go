package sfu_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/peer"
	"github.com/veet-dev/veet/internal/simpeer"
	"github.com/veet-dev/veet/internal/testenv"
	"github.com/veet-dev/veet/localstack"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// wsPeer is a simulated participant whose signaling goes through the whole
// local stack: WebSocket → gateway → Lambda handlers → bus → node → push →
// WebSocket.
type wsPeer struct {
	*simpeer.Client
	ws *wsclient.Client
}

var mediaEvents = map[string]bool{
	"subscribe_offer": true, "publish_answer": true, "tracks": true, "active_speakers": true, "candidate": true,
}

func newWSPeer(t *testing.T, s *localstack.Stack, name string, room events.RoomCode) *wsPeer {
	t.Helper()
	ws := wsclient.Dial(t, s.WSURL(), wsclient.Options{})
	ws.Name = name
	api, err := simpeer.NewAPI()
	if err != nil {
		t.Fatal(err)
	}
	send := peer.AsMessages(func(action string, fields map[string]any) error {
		_, err := ws.Send(action, fields)
		return err
	})
	c, err := simpeer.New(api, room, send)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// Media events go to the simulated peer; everything else stays for
	// the test to wait on.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			e, ok := ws.Next(func(e wsclient.Event) bool {
				return mediaEvents[e.Type] || (e.Type == "error" && e.Code != "")
			}, 200*time.Millisecond)
			if ok {
				c.Deliver(e.Raw)
			}
		}
	}()
	return &wsPeer{Client: c, ws: ws}
}

func reply(t *testing.T, ws *wsclient.Client, id, typ string, into any) {
	t.Helper()
	e := ws.WaitReply(t, id)
	if e.Type != typ {
		t.Fatalf("%s: reply to %s is %s, want %s", ws.Name, id, e, typ)
	}
	if err := e.Decode(into); err != nil {
		t.Fatal(err)
	}
}

func TestStackTwoPeopleSeeAndHearEachOther(t *testing.T) {
	s, err := localstack.Start(context.Background(), localstack.Options{
		RedisURL: testenv.StartRedis(t).URL, Nodes: 1,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	// The host creates a meeting and joins it.
	creator := wsclient.Dial(t, s.WSURL(), wsclient.Options{})
	var created events.Created
	reply(t, creator, creator.MustSend(t, "create", map[string]any{"title": "media"}), "created", &created)
	host := newWSPeer(t, s, "host", created.Code)
	var joined events.Joined
	reply(t, host.ws, host.ws.MustSend(t, "join", map[string]any{"code": created.Code, "name": "Host", "token": created.HostToken, "micOn": true, "camOn": true, "session": host.Session()}), "joined", &joined)
	host.ID = joined.You.ID

	// A guest knocks, is admitted and joins.
	guest := newWSPeer(t, s, "guest", created.Code)
	var waiting events.LobbyWaiting
	reply(t, guest.ws, guest.ws.MustSend(t, "join", map[string]any{"code": created.Code, "name": "Guest"}), "lobby_waiting", &waiting)
	host.ws.WaitFor(t, "knock")
	host.ws.WaitReply(t, host.ws.MustSend(t, "admit", map[string]any{"participantId": waiting.You.ID}))
	var admitted events.Admitted
	if err := guest.ws.WaitFor(t, "admitted").Decode(&admitted); err != nil {
		t.Fatal(err)
	}
	reply(t, guest.ws, guest.ws.MustSend(t, "join", map[string]any{"code": created.Code, "name": "Guest", "token": admitted.Token, "micOn": true, "camOn": true, "session": guest.Session()}), "joined", &joined)
	guest.ID = joined.You.ID

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, p := range []*wsPeer{host, guest} {
		if _, err := p.Publish(ctx, videoBps, events.SourceMicrophone, events.SourceCamera); err != nil {
			t.Fatalf("%s publish: %v; ws got %s", p.ws.Name, err, p.ws.Dump())
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("guest's socket got: %s", guest.ws.Dump())
			t.Logf("guest's offers: %d, errors %v", len(guest.Offers()), guest.Errors())
		}
	})
	eventually(t, "guest gets the host", func() error { return receivesFrom(guest.Client, host.Client) })
	eventually(t, "host gets the guest", func() error { return receivesFrom(host.Client, guest.Client) })
}
