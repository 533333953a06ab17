package state

import (
	"testing"
	"time"
)

func TestRedisStateRateLimit(t *testing.T) {
	f := newFixture(t)
	allowed := 0
	var retry time.Duration
	now := time.Now()
	for range RateBurst + 10 {
		a, err := f.s.inboundAt(f.cx, "c1", now)
		if err != nil {
			t.Fatal(err)
		}
		if a.Verdict == Allowed {
			allowed++
		} else {
			retry = a.RetryAfter
		}
	}
	// The clock stood still: exactly the burst, then one message per refill.
	if allowed != RateBurst || retry != time.Second/RatePerSecond {
		t.Fatalf("%d allowed, retry after %v at one instant", allowed, retry)
	}
	for i, step := range []struct {
		after time.Duration
		want  bool
	}{
		{retry - time.Millisecond, false}, {retry, true}, {retry, false},
		{0, false}, // a clock behind the last message's (another Lambda's) refills nothing
		{retry + 3*time.Second, true},
	} {
		if a, _ := f.s.inboundAt(f.cx, "c1", now.Add(step.after)); (a.Verdict == Allowed) != step.want {
			t.Fatalf("step %d (+%v): %+v", i, step.after, a)
		}
	}
	if ok, _, _ := f.s.Allow(f.cx, "c2"); !ok {
		t.Fatal("another connection was limited")
	}
	// The same round trip reads the connection's record.
	if a, err := f.s.Inbound(f.cx, "c3", time.Time{}); a.Conn != nil || err != nil {
		t.Fatalf("unknown connection: %+v %v", a, err)
	}
	want := Conn{ID: "c3", Endpoint: "http://gw", Token: "tok", Room: "abc-defg-hij", Participant: "p_000000000001"}
	if err := f.s.PutConn(f.cx, want); err != nil {
		t.Fatal(err)
	}
	if a, err := f.s.Inbound(f.cx, "c3", time.Time{}); err != nil || a.Verdict != Allowed || a.Conn == nil || *a.Conn != want {
		t.Fatalf("inbound: %+v %v, want %+v", a, err, want)
	}
}

// TestRedisStateRateLimitSheds: refusals are answered at most once a second;
// a connection that stays over the limit is shed once, then closed for good;
// one that slows down until its bucket is full starts afresh.
func TestRedisStateRateLimitSheds(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	count := map[Verdict]int{}
	var shedAt int
	for i := range RateBurst + ShedCount + 10 {
		a, err := f.s.inboundAt(f.cx, "flood", now)
		if err != nil {
			t.Fatal(err)
		}
		count[a.Verdict]++
		if a.Verdict == Shed {
			shedAt = i
		}
	}
	// At one instant: the burst passes, one refusal is told, the rest are
	// quiet until the ShedCount-th refusal sheds; after that, closed.
	if count[Allowed] != RateBurst || count[Limited] != 1 || count[LimitedQuiet] != ShedCount-2 ||
		count[Shed] != 1 || shedAt != RateBurst+ShedCount-1 || count[Closed] != 10 {
		t.Fatalf("verdicts %v, shed at message %d", count, shedAt)
	}
	if a, _ := f.s.inboundAt(f.cx, "flood", now.Add(time.Hour)); a.Verdict != Closed {
		t.Fatalf("a shed connection came back: %+v", a)
	}

	// Over the limit for a while, at 50 msg/s: the bucket is empty after
	// 1.3 s, then refusals come at 30/s until ShedAfter or ShedCount.
	var verdicts []Verdict
	shedMs := 0
	for ms := 0; ms <= 8000; ms += 20 {
		shedMs = ms
		a, _ := f.s.inboundAt(f.cx, "steady", now.Add(time.Duration(ms)*time.Millisecond))
		verdicts = append(verdicts, a.Verdict)
		if a.Verdict == Shed {
			break
		}
	}
	want := 1333 + min(int(ShedAfter.Milliseconds()), ShedCount*1000/30)
	if last := verdicts[len(verdicts)-1]; last != Shed || shedMs < want-100 || shedMs > want+100 {
		t.Fatalf("50 msg/s: shed at %d ms, want ≈ %d: %v", shedMs, want, last)
	}

	// A burst over the limit, then quiet until the bucket is full: a fresh
	// start, never shed however often it happens.
	for round := range 5 {
		base := now.Add(time.Duration(round) * 3 * time.Second)
		told := 0
		for range RateBurst + 20 {
			a, _ := f.s.inboundAt(f.cx, "bursty", base)
			if a.Verdict == Shed || a.Verdict == Closed {
				t.Fatalf("round %d: a burst that stopped was shed", round)
			}
			if a.Verdict == Limited {
				told++
			}
		}
		if told != 1 {
			t.Fatalf("round %d: %d refusals told, want 1", round, told)
		}
	}
	// Told again once a second has passed since the last told refusal.
	base := now.Add(20 * time.Second)
	empty := func(d time.Duration) Verdict {
		var a Arrival
		for a.Verdict == Allowed {
			a, _ = f.s.inboundAt(f.cx, "again", base.Add(d))
		}
		return a.Verdict
	}
	if v := empty(0); v != Limited {
		t.Fatalf("first refusal: %v", v)
	}
	if v := empty(500 * time.Millisecond); v != LimitedQuiet {
		t.Fatalf("told twice within a second: %v", v)
	}
	if v := empty(time.Second); v != Limited {
		t.Fatalf("not told again after a second: %v", v)
	}
}

// TestRedisStateClosedConnectionDropped: once a connection is deleted
// (disconnect, removal), a message a handler meets later is dropped, and
// does not bring the record back.
func TestRedisStateClosedConnectionDropped(t *testing.T) {
	f := newFixture(t)
	if err := f.s.PutConn(f.cx, Conn{ID: "c1", Endpoint: "http://gw"}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteConn(f.cx, "c1"); err != nil {
		t.Fatal(err)
	}
	a, err := f.s.Inbound(f.cx, "c1", time.Time{})
	if err != nil || a.Verdict != Closed || a.Conn != nil {
		t.Fatalf("after delete: %+v %v", a, err)
	}
	if ttl := f.s.rdb.PTTL(f.cx, rateKey("c1")).Val(); ttl <= 0 || ttl > closedTTL {
		t.Fatalf("closed mark ttl %v", ttl)
	}
}

func TestRedisStateSourceLimit(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	l := Limit{PerSecond: 0.5, Burst: 3}
	var got []bool
	var retry time.Duration
	for _, d := range []time.Duration{0, 0, 0, 0, 1999 * time.Millisecond, 2 * time.Second, 2 * time.Second} {
		ok, r, err := f.s.allowSourceAt(f.cx, "create", "203.0.113.7", l, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ok)
		if !ok && retry == 0 {
			retry = r
		}
	}
	want := []bool{true, true, true, false, false, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allowed %v, want %v", got, want)
		}
	}
	if retry != 2*time.Second {
		t.Fatalf("retry after %v", retry)
	}
	// Sources and kinds are apart; no source is no limit.
	if ok, _, _ := f.s.allowSourceAt(f.cx, "connect", "203.0.113.7", l, now); !ok {
		t.Fatal("connect limited by create")
	}
	if ok, _, _ := f.s.allowSourceAt(f.cx, "create", "203.0.113.8", l, now); !ok {
		t.Fatal("another address limited")
	}
	for range 10 {
		if ok, _, _ := f.s.AllowSource(f.cx, "create", "", l); !ok {
			t.Fatal("the empty source was limited")
		}
	}
	if ttl := f.s.rdb.PTTL(f.cx, sourceKey("create", "203.0.113.7")).Val(); ttl <= 0 || ttl > 7*time.Second {
		t.Fatalf("bucket ttl %v (full after 6 s)", ttl)
	}
}
