package lambdas

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/veet-dev/veet/events"
)

// TestRedisHandlersCapsAndKnockRate: a full meeting refuses a newcomer
// (full) and a full lobby a knock (lobby_full), changing nothing; admit
// needs a free seat; one address knocks 30 times at once, then is slowed.
func TestRedisHandlersCapsAndKnockRate(t *testing.T) {
	e := newEnvWith(t, func(d *Deps) { d.MaxParticipants, d.MaxLobby = 2, 1 })
	code, _, _ := e.meeting("c-host")
	e.seat("c-bob", code, "Bob", false)
	_, tok := e.participantToken(code)
	e.connect("c-late", "")
	e.changes(code)
	if got := e.errorCode(e.send("c-late", map[string]any{"action": "join", "id": "j", "code": code, "name": "Late", "token": tok})); got != "full" {
		t.Fatalf("join of a full meeting: %s", got)
	}
	e.connect("c-g1", "")
	g1 := e.one(e.send("c-g1", map[string]any{"action": "join", "id": "k", "code": code, "name": "G1"}), "lobby_waiting")["you"].(map[string]any)["id"]
	e.connect("c-g2", "")
	if got := e.errorCode(e.send("c-g2", map[string]any{"action": "join", "id": "k", "code": code, "name": "G2"})); got != "lobby_full" {
		t.Fatalf("knock on a full lobby: %s", got)
	}
	if got := e.errorCode(e.send("c-host", map[string]any{"action": "admit", "id": "a", "participantId": g1})); got != "full" {
		t.Fatalf("admit into a full meeting: %s", got)
	}
	if got := e.errorCode(e.send("c-host", map[string]any{"action": "admit_all", "id": "a"})); got != "full" {
		t.Fatalf("admit_all into a full meeting: %s", got)
	}
	if got := e.changes(code); len(got) != 1 || got[0]["type"] != "knock" {
		t.Fatalf("the refusals changed the room: %v", got)
	}
	if c, _ := e.st.GetConn(t.Context(), "c-late"); c == nil || c.Room != "" {
		t.Fatalf("refused connection bound to the room: %+v", c)
	}

	// Knocks per address: a burst of 30, then two a second.
	e2 := newEnv(t)
	code2, _, _ := e2.meeting("c-host")
	refused := 0
	for i := range 40 {
		c := events.ConnectionID(fmt.Sprint("c-k", i))
		e2.ip[c] = "203.0.113.9"
		e2.connect(c, "")
		for _, ev := range e2.send(c, map[string]any{"action": "join", "id": "k", "code": code2, "name": "K", "guest": fmt.Sprint("g", i)}) {
			if ev["type"] == "error" && ev["code"] == "rate_limited" && ev["retryAfterMs"].(float64) > 0 {
				refused++
			}
		}
	}
	if refused < 40-31 || refused > 40-29 {
		t.Fatalf("%d of 40 quick knocks from one address refused, want about 10", refused)
	}
	// A guest already waiting knocks again (the SPA does every 15 s): not a
	// new knock, however many came from its address.
	for range 5 {
		if w := e2.one(e2.send("c-k0", map[string]any{"action": "join", "id": "k", "code": code2, "name": "K", "guest": "g0"}), "lobby_waiting"); w["you"] == nil {
			t.Fatalf("knock again: %v", w)
		}
	}
}

// TestRedisHandlersLargeRoomComesInPages: joined and snapshot of a room too
// big for one message come as pages, each under the limit, that add up to
// the room; a new co-host's room with its lobby likewise.
func TestRedisHandlersLargeRoomComesInPages(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	long := strings.Repeat("<", 21) + "xy" // 128 bytes of JSON
	for i := range 300 {
		_, tok := e.participantToken(code)
		c := events.ConnectionID(fmt.Sprint("c-", i))
		e.connect(c, "")
		e.send(c, map[string]any{"action": "join", "id": "j", "code": code, "name": long, "token": tok})
	}
	for i := range 20 {
		c := events.ConnectionID(fmt.Sprint("c-g", i))
		e.connect(c, "")
		e.send(c, map[string]any{"action": "join", "id": "k", "code": code, "name": long})
	}
	_, tok := e.participantToken(code)
	e.connect("c-last", "")
	e.invoke("join", "c-last", fmt.Sprintf(`{"action":"join","id":"jl","code":%q,"name":"Last","token":%q}`, code, tok), nil)
	check := func(who events.ConnectionID, head string, wantParts, wantLobby int) {
		t.Helper()
		e.push.mu.Lock()
		raw := e.push.raw[who]
		delete(e.push.raw, who)
		e.push.mu.Unlock()
		parts, lobby, pages := 0, 0, 0
		for i, data := range raw {
			if len(data) > events.MaxMessage {
				t.Fatalf("%s: message %d is %d bytes", who, i, len(data))
			}
			var m struct {
				Type  string `json:"type"`
				Pages int    `json:"pages"`
				Page  int    `json:"page"`
				Room  struct {
					Participants []json.RawMessage `json:"participants"`
					Lobby        []json.RawMessage `json:"lobby"`
				} `json:"room"`
				Participants []json.RawMessage `json:"participants"`
				Lobby        []json.RawMessage `json:"lobby"`
			}
			_ = json.Unmarshal(data, &m)
			switch m.Type {
			case head:
				pages = m.Pages
				parts, lobby = parts+len(m.Room.Participants), lobby+len(m.Room.Lobby)
			case "room_page":
				if m.Page < 2 || m.Page > pages {
					t.Fatalf("%s: page %d of %d", who, m.Page, pages)
				}
				parts, lobby = parts+len(m.Participants), lobby+len(m.Lobby)
			}
		}
		if pages < 2 || parts != wantParts || lobby != wantLobby {
			t.Fatalf("%s: %d pages with %d participants and %d guests, want %d and %d", who, pages, parts, lobby, wantParts, wantLobby)
		}
	}
	check("c-last", "joined", 302, 0)
	e.invoke("resync", "c-host", `{"action":"resync","id":"r"}`, nil)
	check("c-host", "snapshot", 302, 20)
}
