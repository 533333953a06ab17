package gateway

import "testing"

// TestBodyAction: `$request.body.action` as API Gateway reads it — the exact
// key, the last one when repeated, strings only.
func TestBodyAction(t *testing.T) {
	for _, c := range []struct {
		body   string
		action string
		ok     bool
	}{
		{`{"action":"ping"}`, "ping", true},
		{`{"id":"1","action":"ping"}`, "ping", true},
		{`{"Action":"ping","Id":"x"}`, "", true},                     // issue 12: another key
		{`{"action":"ping","id":"d4","Action":"end"}`, "ping", true}, // issue 12: routed to ping
		{`{"action":"ping","action":"end"}`, "end", true},            // repeated: the last
		{`{"\u0061ction":"ping"}`, "ping", true},                     // an escape is the same key
		{`{"action":"p\u0069ng"}`, "ping", true},
		{`{"action":7}`, "", true},
		{`{"action":null}`, "", true},
		{`{"action":{"x":"ping"}}`, "", true},
		{`{"action":["ping"]}`, "", true},
		{`{"x":{"action":"end"}}`, "", true}, // not top-level
		{`{"action":"ping"} trailing`, "ping", true},
		{`["action","ping"]`, "", false},
		{`"ping"`, "", false},
		{`{"action":"ping"`, "", false},
		{`not json`, "", false},
		{``, "", false},
	} {
		a, ok := bodyAction([]byte(c.body))
		if a != c.action || ok != c.ok {
			t.Errorf("bodyAction(%s) = %q, %v; want %q, %v", c.body, a, ok, c.action, c.ok)
		}
	}
}
