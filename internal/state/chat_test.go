package state

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

// chatFlow runs on both Redis servers the stack uses: history paging,
// limits, the chat switch and its survival in the node's copy.
func chatFlow(t *testing.T, f *fixture) {
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	bob := events.NewParticipantID()
	f.mustJoin(code, bob, events.RoleParticipant, "c-bob")

	// Nothing said yet.
	if msgs, more, err := f.s.ChatHistory(f.cx, code, bob, "c-bob", 0); err != nil || len(msgs) != 0 || more {
		t.Fatalf("empty history: %v %v %v", msgs, more, err)
	}
	// Limits: five at once per person, then one a second.
	var first uint64
	for i := range ChatPerPerson.Burst {
		r, err := f.s.Chat(f.cx, code, bob, "c-bob", fmt.Sprintf("m%d", i))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i == 0 {
			first = r.Message.ID
		}
		if r.Message.ID != first+uint64(i) || r.Message.From != bob || r.Message.Name != "N "+string(bob) || r.Message.At == 0 {
			t.Fatalf("message %d: %+v", i, r.Message)
		}
		if len(r.Others) != 1 || r.Others[0].Participant != host {
			t.Fatalf("others %+v", r.Others)
		}
	}
	_, err := f.s.Chat(f.cx, code, bob, "c-bob", "one too many")
	var ref *Refused
	if !asRefused(err, &ref) || ref.Err.Code != events.CodeRateLimited || ref.RetryAfterMS <= 0 || ref.RetryAfterMS > 1000 {
		t.Fatalf("sixth message at once: %v", err)
	}
	// The host has a bucket of their own.
	if _, err := f.s.Chat(f.cx, code, host, "c-host", "host here"); err != nil {
		t.Fatal(err)
	}
	// Not joined on this connection: refused.
	if _, err := f.s.Chat(f.cx, code, bob, "c-other", "x"); !IsRefused(err, events.CodeNotJoined) {
		t.Fatalf("chat from another connection: %v", err)
	}
	msgs, more, err := f.s.ChatHistory(f.cx, code, bob, "c-bob", 0)
	if err != nil || more || len(msgs) != 6 || msgs[0].Text != "m0" || msgs[5].Text != "host here" {
		t.Fatalf("history %+v %v %v", msgs, more, err)
	}
	if msgs, _, _ := f.s.ChatHistory(f.cx, code, bob, "c-bob", first+2); len(msgs) != 2 || msgs[1].ID != first+1 {
		t.Fatalf("history before %d: %+v", first+2, msgs)
	}

	// Turning chat off: only hosts and co-hosts may send; everyone is told.
	if _, err := f.s.SetChat(f.cx, code, bob, "c-bob", false); !IsRefused(err, events.CodeForbidden) {
		t.Fatalf("a participant turns chat off: %v", err)
	}
	ch, err := f.s.SetChat(f.cx, code, host, "c-host", false)
	if err != nil || ch.Seq == 0 || ch.Meta == nil || !ch.Meta.ChatDisabled || len(ch.Others) != 2 {
		t.Fatalf("chat off: %+v %v", ch, err)
	}
	if again, _ := f.s.SetChat(f.cx, code, host, "c-host", false); again.Seq != 0 {
		t.Fatalf("chat off twice moved the seq: %+v", again)
	}
	time.Sleep(1100 * time.Millisecond) // bob's bucket has a token again
	if _, err := f.s.Chat(f.cx, code, bob, "c-bob", "still here?"); !IsRefused(err, events.CodeForbidden) {
		t.Fatalf("a participant chats while chat is off: %v", err)
	}
	if _, err := f.s.Chat(f.cx, code, host, "c-host", "hosts may"); err != nil {
		t.Fatalf("the host chats while chat is off: %v", err)
	}
	if room, _ := f.s.Snapshot(f.cx, code, bob, "c-bob"); !room.ChatDisabled {
		t.Fatalf("snapshot does not say chat is off: %+v", room)
	}

	// Redis loses the meeting: the node's copy brings the switch back, and
	// new messages get ids above every old one.
	meta := *ch.Meta
	for _, k := range roomKeys(code) {
		f.s.rdb.Del(f.cx, k)
	}
	if ok, err := f.s.Restore(f.cx, code, meta, "n1", 99); !ok || err != nil {
		t.Fatalf("restore: %v %v", ok, err)
	}
	f.mustJoin(code, host, events.RoleHost, "c-host")
	j := f.mustJoin(code, bob, events.RoleParticipant, "c-bob")
	if !j.Room.ChatDisabled {
		t.Fatal("the rebuilt meeting lets everyone chat")
	}
	r, err := f.s.Chat(f.cx, code, host, "c-host", "after the rebuild")
	if err != nil || r.Message.ID <= first+6 {
		t.Fatalf("first message after the rebuild: %+v %v", r, err)
	}
}

func TestRedisStateChat(t *testing.T) { chatFlow(t, newFixture(t)) }

func TestMiniredisChat(t *testing.T) {
	m := miniredis.RunT(t)
	f := &fixture{t: t, s: New(redis.NewClient(&redis.Options{Addr: m.Addr()})), cx: context.Background()}
	f.node("n1", 0)
	chatFlow(t, f)
}

func TestRedisStateChatHistoryPages(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	// More than the meeting keeps, faster than the limits allow.
	defer func(p, r Limit) { ChatPerPerson, ChatPerRoom = p, r }(ChatPerPerson, ChatPerRoom)
	ChatPerPerson, ChatPerRoom = Limit{PerSecond: 1000, Burst: 1000}, Limit{PerSecond: 1000, Burst: 1000}
	var last uint64
	for n := range ChatHistory + 30 {
		r, err := f.s.Chat(f.cx, code, host, "c-host", fmt.Sprintf("#%d", n))
		if err != nil {
			t.Fatal(err)
		}
		last = r.Message.ID
	}
	page, more, err := f.s.ChatHistory(f.cx, code, host, "c-host", 0)
	if err != nil || !more || len(page) != events.ChatPage || page[len(page)-1].ID != last || page[0].ID != last-events.ChatPage+1 {
		t.Fatalf("newest page: %d messages, more %v, %v", len(page), more, err)
	}
	page2, more, _ := f.s.ChatHistory(f.cx, code, host, "c-host", page[0].ID)
	if len(page2) != ChatHistory-events.ChatPage || more || page2[len(page2)-1].ID != page[0].ID-1 {
		t.Fatalf("second page: %d messages, more %v", len(page2), more)
	}
	if page2[0].Text != fmt.Sprintf("#%d", 30) {
		t.Fatalf("the oldest kept is %q, want #30", page2[0].Text)
	}
}

func TestRedisStateReactionsAndHands(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	bob, ann := events.NewParticipantID(), events.NewParticipantID()
	f.mustJoin(code, bob, events.RoleParticipant, "c-bob")
	f.mustJoin(code, ann, events.RoleParticipant, "c-ann")

	for i := range ReactPerPerson.Burst {
		others, err := f.s.React(f.cx, code, bob, "c-bob")
		if err != nil || len(others) != 2 {
			t.Fatalf("reaction %d: %v %v", i, others, err)
		}
	}
	if _, err := f.s.React(f.cx, code, bob, "c-bob"); !IsRefused(err, events.CodeRateLimited) {
		t.Fatalf("a fourth reaction at once: %v", err)
	}
	if _, err := f.s.React(f.cx, code, ann, "c-ann"); err != nil {
		t.Fatalf("ann's own reactions: %v", err)
	}

	// Hands: the server keeps when each went up; a rejoin keeps it.
	up := true
	raise := func(pid events.ParticipantID, conn events.ConnectionID) int64 {
		r, err := f.s.Update(f.cx, code, pid, conn, Patch{HandRaised: &up})
		if err != nil || !r.Target.HandRaised || r.Target.HandRaisedAt == 0 {
			t.Fatalf("raise: %+v %v", r, err)
		}
		return r.Target.HandRaisedAt
	}
	bobAt := raise(bob, "c-bob")
	time.Sleep(5 * time.Millisecond)
	annAt := raise(ann, "c-ann")
	if annAt <= bobAt {
		t.Fatalf("ann raised after bob: %d <= %d", annAt, bobAt)
	}
	if again := raise(bob, "c-bob"); again != bobAt {
		t.Fatalf("raising a raised hand moved it in the queue: %d, was %d", again, bobAt)
	}
	j := f.mustJoin(code, bob, events.RoleParticipant, "c-bob2") // a reload
	if !j.Me.HandRaised || j.Me.HandRaisedAt != bobAt || !j.Unchanged {
		t.Fatalf("a rejoin lowered the hand: %+v (unchanged %v)", j.Me, j.Unchanged)
	}
	if _, _, err := f.s.LowerHands(f.cx, code, ann, "c-ann", ""); !IsRefused(err, events.CodeForbidden) {
		t.Fatalf("a participant lowers everyone's hands: %v", err)
	}
	low, others, err := f.s.LowerHands(f.cx, code, host, "c-host", ann)
	if err != nil || len(low) != 1 || low[0].Participant.ID != ann || low[0].Participant.HandRaised || low[0].Participant.HandRaisedAt != 0 || len(others) != 3 {
		t.Fatalf("lower ann's hand: %+v %v", low, err)
	}
	raise(ann, "c-ann")
	low, _, err = f.s.LowerHands(f.cx, code, host, "c-host", "")
	if err != nil || len(low) != 2 || low[1].Seq != low[0].Seq+1 {
		t.Fatalf("lower all: %+v %v", low, err)
	}
	if low, others, _ := f.s.LowerHands(f.cx, code, host, "c-host", ""); len(low) != 0 || len(others) != 0 {
		t.Fatalf("lower all again changed something: %+v", low)
	}
	if _, _, err := f.s.LowerHands(f.cx, code, host, "c-host", events.NewParticipantID()); !IsRefused(err, events.CodeNotFound) {
		t.Fatalf("lower a stranger's hand: %v", err)
	}
}
