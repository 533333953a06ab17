package localstack_test

import (
	"testing"
	"time"

	"github.com/veet-dev/veet/localstack"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// TestStackStrictMessages: issue 12's payloads through the whole stack. The
// host's ping with a case-folded "Action":"end" ends nothing (the local
// gateway routes it to ping, as API Gateway would, and the handler refuses
// the unknown key); lock without locked changes nothing.
func TestStackStrictMessages(t *testing.T) {
	s := startStack(t, localstack.Options{Nodes: 1})
	host, code := createMeeting(t, s, "host")
	ann := admitGuest(t, s, host, code, "ann")
	host.WaitFor(t, "participant_joined")
	before := roomState(t, s, code, host)
	for _, tc := range []struct{ body, id string }{
		{`{"action":"ping","id":"d4","Action":"end"}`, "d4"},
		{`{"action":"ping","id":"d5","action":"end"}`, "d5"},
		{`{"action":"lock","id":"k1"}`, "k1"},
		{`{"Action":"ping","Id":"x"}`, ""},
		{`{"action":"update","id":"u1","MICON":true}`, "u1"},
		{`{"action":"update","id":"u2","name":"\u202egnp.exe"}`, "u2"},
	} {
		if err := host.SendRaw([]byte(tc.body)); err != nil {
			t.Fatal(err)
		}
		e := host.WaitFor(t, "error")
		if e.Code != "bad_request" || e.ID != tc.id || e.RequestID == "" {
			t.Errorf("%s: %s", tc.body, e)
		}
	}
	if after := roomState(t, s, code, host); after.Seq != before.Seq || after.Locked != before.Locked {
		t.Fatalf("room moved: %+v → %+v", before, after)
	}
	if e, ok := ann.Next(func(e wsclient.Event) bool { return e.Type == "ended" || e.Seq > 0 && e.Type != "joined" }, 300*time.Millisecond); ok {
		t.Fatalf("ann got %s", e)
	}
}
