package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/peer"
)

// Meeting is one meeting of the cluster: a host and participants, all
// publishing a microphone and a camera.
type Meeting struct {
	c     *Cluster
	Code  events.RoomCode
	Peers []*peer.Peer
}

// Meeting creates a meeting with n participants (the first is the host),
// each joined with media, and waits until everyone receives everyone.
func (c *Cluster) Meeting(n int) *Meeting {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, hostTok, err := peer.Create(ctx, c.WSURL, "chaos")
	if err != nil {
		c.t.Fatalf("create: %v\n%s", err, c.Logs())
	}
	m := &Meeting{c: c, Code: code}
	for i := range n {
		tok := hostTok
		if i > 0 {
			tok = c.Token(code, events.RoleParticipant)
		}
		p, err := peer.Join(ctx, peer.Options{URL: c.WSURL, Code: code, Name: fmt.Sprintf("p%d", i+1), Token: tok, Media: true})
		if err != nil {
			c.t.Fatalf("join p%d: %v\n%s", i+1, err, c.Logs())
		}
		c.t.Cleanup(p.Close)
		m.Peers = append(m.Peers, p)
	}
	if missing := m.waitFlowing(30 * time.Second); len(missing) > 0 {
		c.t.Fatalf("media never flowed: %v\n%s", missing, c.Logs())
	}
	return m
}

// Host is the meeting's host.
func (m *Meeting) Host() *peer.Peer { return m.Peers[0] }

// flowThreshold: a track whose newest packet is older than this does not
// flow now (audio is 50 packets a second, video 30 frames).
const flowThreshold = 250 * time.Millisecond

// notFlowing lists every (receiver ← sender track) not flowing now.
func (m *Meeting) notFlowing(now time.Time) []string {
	var out []string
	for _, sub := range m.Peers {
		for _, pub := range m.Peers {
			if sub == pub {
				continue
			}
			for _, s := range []events.Source{events.SourceMicrophone, events.SourceCamera} {
				id := string(pub.ID()) + "-" + string(s)
				if g := sub.Gaps().Get(id); g == nil || g.Since(now) > flowThreshold {
					out = append(out, fmt.Sprintf("%s←%s", sub.ID(), id))
				}
			}
		}
	}
	return out
}

func (m *Meeting) waitFlowing(limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		missing := m.notFlowing(time.Now())
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Mark starts measuring silences at t.
func (m *Meeting) Mark(t time.Time) {
	for _, p := range m.Peers {
		p.Gaps().Reset(t)
	}
}

// Worst is the longest silence any receiver had of any sender's track since
// the last Mark, counting one still going on.
func (m *Meeting) Worst(now time.Time) time.Duration {
	var worst time.Duration
	for _, sub := range m.Peers {
		for _, pub := range m.Peers {
			if sub == pub {
				continue
			}
			for _, s := range []events.Source{events.SourceMicrophone, events.SourceCamera} {
				if g := sub.Gaps().Get(string(pub.ID()) + "-" + string(s)); g != nil {
					worst = max(worst, g.Longest(now))
				}
			}
		}
	}
	return worst
}

// Recover waits (up to limit) until everyone receives everyone again and
// returns the worst silence since the mark and the participants some of
// whose tracks never came back.
func (m *Meeting) Recover(limit time.Duration) (time.Duration, []string) {
	// Whatever the fault stopped shows as not flowing only once its last
	// packet is older than the threshold.
	time.Sleep(2 * flowThreshold)
	missing := m.waitFlowing(limit)
	worst := m.Worst(time.Now())
	// Who is missing anything: the receivers named in the list.
	lost := map[string]bool{}
	for _, s := range missing {
		who, _, _ := strings.Cut(s, "←")
		lost[who] = true
	}
	out := make([]string, 0, len(lost))
	for w := range lost {
		out = append(out, w)
	}
	sort.Strings(out)
	return worst, out
}

// PresenceLost asks every participant's view against a fresh snapshot and
// adds up what the views lacked or had too much, plus the gaps that needed
// a resync.
func (m *Meeting) PresenceLost() (lost, gaps int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range m.Peers {
		n, err := p.CheckPresence(ctx)
		if err != nil {
			return lost, gaps, fmt.Errorf("%s: %w", p.ID(), err)
		}
		lost += n
		gaps += p.Presence().Gaps
		if len(p.Presence().Participants) != len(m.Peers) {
			lost += abs(len(m.Peers) - len(p.Presence().Participants))
		}
	}
	return lost, gaps, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Until polls a request of the host until it is answered with want, and
// returns how long that took.
func (m *Meeting) Until(limit time.Duration, action string, fields map[string]any, want events.EventType) (time.Duration, error) {
	start := time.Now()
	var last string
	for time.Since(start) < limit {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		meta, code, err := m.Host().Request(ctx, action, fields)
		cancel()
		if err == nil && meta.Type == want {
			return time.Since(start), nil
		}
		last = fmt.Sprintf("%s %s %v", meta.Type, code, err)
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s never answered %s within %s (last: %s)", action, want, limit, last)
}
