package localstack_test

import (
	"context"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/peer"
	"github.com/veet-dev/veet/internal/token"
	"github.com/veet-dev/veet/localstack"
)

// TestStackMeetingAcrossTwoRegions: two regions on one Redis, as on AWS.
// The meeting lives where it was created; someone who reaches the other
// region is sent to the meeting's (wrong_region names it, /config.json
// lists every region's endpoint) and joins there, so that its media node,
// its pushes and its handlers are all in one region. Everyone then sees and
// hears everyone.
func TestStackMeetingAcrossTwoRegions(t *testing.T) {
	s := startStack(t, localstack.Options{Nodes: 1, Regions: []string{"local", "local-b"}})
	regions := map[string]string{}
	for _, r := range s.RegionURLs() {
		regions[r[0]] = s.RegionWSURL(r[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, hostTok, err := peer.Create(ctx, regions["local"], "two regions")
	if err != nil {
		t.Fatal(err)
	}
	host, err := peer.Join(ctx, peer.Options{URL: regions["local"], Code: code, Name: "Host", Token: hostTok, Media: true, Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	tok, err := s.Tokens().Sign(token.Claims{Room: code, Participant: events.NewParticipantID(), Role: events.RoleParticipant}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// This one's nearest region is the other one.
	far, err := peer.Join(ctx, peer.Options{URL: regions["local-b"], Code: code, Name: "Far", Token: tok, Media: true, Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(far.Close)
	if far.Stats().Reconnects == 0 {
		t.Error("the far participant joined without being sent to the meeting's region")
	}
	m, err := s.State().Meeting(ctx, code)
	if err != nil || m.Region != "local" || m.Node != "local-1" {
		t.Fatalf("meeting %+v (%v): want it in region local, on its node", m, err)
	}
	receives := func(sub, pub *peer.Peer) bool {
		for _, src := range []events.Source{events.SourceMicrophone, events.SourceCamera} {
			g := sub.Gaps().Get(string(pub.ID()) + "-" + string(src))
			if g == nil || g.Since(time.Now()) > 300*time.Millisecond {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(20 * time.Second)
	for !(receives(host, far) && receives(far, host)) {
		if time.Now().After(deadline) {
			t.Fatalf("media between regions: host gets far %v, far gets host %v", receives(host, far), receives(far, host))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range []*peer.Peer{host, far} {
		if got := p.Presence().Participants; len(got) != 2 {
			t.Errorf("%s sees %v", p.ID(), got)
		}
	}
}
