package lambdas

import (
	"context"
	"testing"
)

// TestRedisHandlersStrictMessages: issue 12's payloads against the handlers.
// A second, case-folded "action" is an unknown field, not a route: the host's
// ping with "Action":"end" ends nothing, wherever a gateway sends it; lock
// without locked changes nothing.
func TestRedisHandlersStrictMessages(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	e.one(e.send("c-host", map[string]any{"action": "lock", "id": "k0", "locked": true}), "ack")
	e.push.take("c-host")
	for _, tc := range []struct{ route, body, id string }{
		{"ping", `{"action":"ping","id":"d4","Action":"end"}`, "d4"},
		{"end", `{"action":"ping","id":"d5","Action":"end"}`, "d5"}, // a gateway that folded keys
		{"end", `{"action":"ping","id":"d6","action":"end"}`, "d6"}, // API Gateway's last-wins route
		{"lock", `{"action":"lock","id":"k1"}`, "k1"},
		{"ping", `{"Action":"ping","Id":"x"}`, ""},
		{"update", `{"action":"update","id":"u1","MICON":true}`, "u1"},
	} {
		e.invoke(tc.route, "c-host", tc.body, nil)
		evs := e.push.take("c-host")
		if len(evs) != 1 || e.errorCode(evs) != "bad_request" || evs[0]["id"] != nilIfEmpty(tc.id) {
			t.Errorf("%s via %s: %v", tc.body, tc.route, evs)
		}
	}
	m, err := e.st.Meeting(context.Background(), code)
	if err != nil || m.Ended || !m.Locked {
		t.Fatalf("after the refused messages: %+v %v", m, err)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
