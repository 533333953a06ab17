package sfu

import (
	"slices"
	"testing"
)

func camera(cur int) allocTrack {
	return allocTrack{video: true, speaker: -1, cur: cur, layers: []layerInfo{
		{rate: 150_000, height: 180, usable: true},
		{rate: 500_000, height: 360, usable: true},
		{rate: 1_500_000, height: 720, usable: true},
	}}
}

func mic() allocTrack {
	return allocTrack{layers: []layerInfo{{rate: 50_000, usable: true}}}
}

func sized(t allocTrack, h int) allocTrack { t.sized, t.height = true, h; return t }

func TestAllocateFollowsTileSizes(t *testing.T) {
	tracks := []allocTrack{mic(), sized(camera(2), 180), sized(camera(2), 360), sized(camera(1), 720), sized(camera(-1), 0)}
	got := allocate(10_000_000, tracks, 25, true)
	if want := []int{0, 0, 1, 2, -1}; !slices.Equal(got, want) {
		t.Fatalf("layers %v, want %v (by tile height; hidden paused)", got, want)
	}
	// A tile a little smaller than a layer takes that layer, not the next.
	if got := allocate(10_000_000, []allocTrack{sized(camera(2), 340)}, 25, true); got[0] != 1 {
		t.Fatalf("340 px tile got layer %d", got[0])
	}
	// Unsized: the best.
	if got := allocate(10_000_000, []allocTrack{camera(1)}, 25, true); got[0] != 2 {
		t.Fatalf("unsized got layer %d", got[0])
	}
	// One step up per round, the first by priority.
	if got := allocate(10_000_000, []allocTrack{camera(0), camera(0)}, 25, true); !slices.Equal(got, []int{1, 0}) {
		t.Fatalf("two steps at once: %v", got)
	}
	// Without raise nothing moves up; down it may.
	if got := allocate(10_000_000, []allocTrack{camera(1)}, 25, false); got[0] != 1 {
		t.Fatalf("held got layer %d", got[0])
	}
	if got := allocate(600_000, []allocTrack{camera(2)}, 25, false); got[0] != 1 {
		t.Fatalf("held on a narrow link got layer %d", got[0])
	}
	// A new track starts on its lowest layer, whatever the room.
	if got := allocate(10_000_000, []allocTrack{camera(-1)}, 25, true); got[0] != 0 {
		t.Fatalf("new track got layer %d", got[0])
	}
}

func TestAllocateServesAudioFirstAndPausesWhatDoesNotFit(t *testing.T) {
	// 400 kbit/s: four mics (200k) always; then two cameras' lowest layers.
	tracks := []allocTrack{mic(), mic(), mic(), mic(), camera(-1), camera(-1), camera(-1)}
	got := allocate(400_000, tracks, 25, true)
	if want := []int{0, 0, 0, 0, 0, -1, -1}; !slices.Equal(got, want) {
		t.Fatalf("layers %v, want %v", got, want)
	}
	// A video that is on stays on a little over the budget.
	if got := allocate(460_000, []allocTrack{mic(), mic(), mic(), mic(), camera(0), camera(0)}, 25, true); got[5] != 0 {
		t.Fatalf("video on paused for a small overshoot: %v", got)
	}
	// One that is not on does not start over the budget.
	if got := allocate(460_000, []allocTrack{mic(), mic(), mic(), mic(), camera(0), camera(-1)}, 25, true); got[5] != -1 {
		t.Fatalf("new video started over the budget: %v", got)
	}
	// Less than the audio: audio still goes, video does not.
	got = allocate(100_000, tracks, 25, true)
	if want := []int{0, 0, 0, 0, -1, -1, -1}; !slices.Equal(got, want) {
		t.Fatalf("layers %v, want %v", got, want)
	}
}

func TestAllocatePriorityScreenThenSpeakersThenSize(t *testing.T) {
	screen := allocTrack{video: true, screen: true, speaker: -1, cur: -1, layers: []layerInfo{{rate: 1_000_000, usable: true}}}
	speaker := camera(-1)
	speaker.speaker = 0
	big := sized(camera(-1), 720)
	small := sized(camera(-1), 180)
	tracks := []allocTrack{small, big, speaker, screen}
	// Enough for the screen and two lowest layers.
	got := allocate(1_350_000, tracks, 25, true)
	if want := []int{-1, 0, 0, 0}; !slices.Equal(got, want) {
		t.Fatalf("layers %v, want %v (screen, speaker, then the bigger tile)", got, want)
	}
	// Two passes: with room for one camera's full layer or three lowest
	// layers, all three show, the speaker raised first.
	speaker.cur, big.cur, small.cur = 1, 1, 0
	got = allocate(1_000_000, []allocTrack{small, big, speaker}, 25, true)
	if want := []int{0, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("layers %v, want %v", got, want)
	}
}

func TestAllocateLastN(t *testing.T) {
	var tracks []allocTrack
	for i := range 30 {
		c := camera(-1)
		if i%10 == 0 {
			c.speaker = i / 10 // three recent speakers
		}
		tracks = append(tracks, c)
	}
	got := allocate(1_000_000_000, tracks, 5, true)
	shown := 0
	for i, l := range got {
		if l >= 0 {
			shown++
		}
		if i%10 == 0 && l < 0 {
			t.Fatalf("speaker %d paused", i)
		}
	}
	if shown != 5 {
		t.Fatalf("%d videos sent, want the last-N bound 5", shown)
	}
}

func TestAllocateStepsUpOneLayerAtATimeAndNeedsAMargin(t *testing.T) {
	// On the low layer with plenty of room: one step per round.
	if got := allocate(10_000_000, []allocTrack{camera(0)}, 25, true); got[0] != 1 {
		t.Fatalf("from layer 0 got %d, want 1", got[0])
	}
	// Just enough for the middle layer's rate but not its margin: stay.
	if got := allocate(510_000, []allocTrack{camera(0)}, 25, true); got[0] != 0 {
		t.Fatalf("without margin got %d", got[0])
	}
	// Already there: no margin needed to stay.
	if got := allocate(510_000, []allocTrack{camera(1)}, 25, true); got[0] != 1 {
		t.Fatalf("staying got %d", got[0])
	}
	// A layer that is not usable (its publisher stopped sending it) is
	// skipped; the lowest usable one is taken.
	c := camera(1)
	c.layers[0].usable = false
	c.layers[2].usable = false
	if got := allocate(10_000_000, []allocTrack{c}, 25, true); got[0] != 1 {
		t.Fatalf("with only the middle usable got %d", got[0])
	}
}
