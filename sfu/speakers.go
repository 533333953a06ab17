package sfu

import (
	"slices"
	"sort"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
)

const (
	speakerEvery = 400 * time.Millisecond
	// speakingLoudness is the mean loudness (127 - level in -dBov) above
	// which a microphone counts as speaking: louder than -50 dBov, which is
	// above a quiet room's noise floor once the browser's noise suppression
	// ran.
	speakingLoudness = 127 - 50
	maxSpeakers      = 3
)

// speakerLoop announces who speaks, loudest first, when that changes; at
// most once per speakerEvery.
func (r *room) speakerLoop() {
	t := time.NewTicker(speakerEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.updateSpeakers()
		}
	}
}

func (r *room) updateSpeakers() {
	type loud struct {
		id events.ParticipantID
		l  int
	}
	r.mu.Lock()
	var talking []loud
	for k, t := range r.tracks {
		if t.recv.Kind() != webrtc.RTPCodecTypeAudio || k.source != events.SourceMicrophone {
			continue
		}
		l, ok := t.recv.Level()
		if ok && l >= speakingLoudness && !t.recv.Muted() {
			talking = append(talking, loud{k.pid, l})
		}
	}
	sort.Slice(talking, func(i, j int) bool { return talking[i].l > talking[j].l })
	ids := make([]events.ParticipantID, 0, min(len(talking), maxSpeakers))
	for _, x := range talking[:min(len(talking), maxSpeakers)] {
		ids = append(ids, x.id)
	}
	same := slices.Equal(ids, r.speakers)
	if !same {
		r.speakers = ids
	}
	r.mu.Unlock()
	if !same {
		r.broadcast(func() events.Event { return &events.ActiveSpeakers{ParticipantIDs: ids} })
	}
}
