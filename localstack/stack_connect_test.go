package localstack_test

import (
	"net/url"
	"testing"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/localstack"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// TestStackConnectToken: a token in the query string is checked at
// $connect — a bad one refuses the handshake with 401 — and a good one lets
// a later join carry none (the SPA's reload path).
func TestStackConnectToken(t *testing.T) {
	s := startStack(t, localstack.Options{Nodes: 1})
	host, code := createMeeting(t, s, "host")

	_, resp, err := wsclient.DialErr(s.WSURL()+"?token=not-a-token", wsclient.Options{})
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("dial with a bad token: err %v, resp %v; want 401", err, resp)
	}

	// The host reconnects with its token at $connect and joins without one:
	// same participant, and the old socket's seat is taken over.
	c := wsclient.Dial(t, s.WSURL()+"?token="+url.QueryEscape(host.token), wsclient.Options{})
	c.Name = "host again"
	again := &person{Client: c}
	id := c.MustSend(t, "join", map[string]any{"code": code, "name": "host"})
	expect(t, again, id, "joined", &again.joined)
	if again.joined.You.ID != host.id || again.joined.You.Role != events.RoleHost {
		t.Errorf("rejoined as %+v, want host %s", again.joined.You, host.id)
	}
	if got := ids(again.joined.Room); len(got) != 1 || got[0] != host.id {
		t.Errorf("room after rejoin lists %v", got)
	}
	// The old socket hears why it lost the seat (a left that answers no
	// request, which the SPA shows as "You joined from another tab") and is
	// closed normally.
	if e := host.WaitFor(t, "left"); e.ID != "" {
		t.Errorf("old socket's left answers request %q, want an unsolicited one", e.ID)
	}
	if code := host.WaitClosed(t); code != 1000 {
		t.Errorf("old socket closed with %d, want 1000", code)
	}
}
