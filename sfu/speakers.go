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
	// minVoiced is how many voiced packets (20 ms each) in one window make
	// a speaker: 60 ms of voice, more than a click or a cough's tail.
	minVoiced = 3
	// speakerHold keeps a speaker listed through the pauses between words,
	// so rings do not flicker.
	speakerHold = 1200 * time.Millisecond
	maxSpeakers = 3
)

// speakerLoop announces who speaks, loudest first, when that changes; at
// most once per speakerEvery. It also runs the room's adaptive step
// (adapt.go).
func (r *room) speakerLoop() {
	t := time.NewTicker(speakerEvery)
	defer t.Stop()
	heard := map[events.ParticipantID]voice{}
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.updateSpeakers(now, heard)
			r.adapt(now)
		}
	}
}

// voice is the last time a participant was heard, and how loud.
type voice struct {
	at       time.Time
	loudness int
}

func (r *room) updateSpeakers(now time.Time, heard map[events.ParticipantID]voice) {
	r.mu.Lock()
	for k, t := range r.tracks {
		if t.recv.Kind() != webrtc.RTPCodecTypeAudio || k.source != events.SourceMicrophone {
			continue
		}
		if n, l := t.recv.Voice(); n >= minVoiced && !t.recv.Muted() {
			heard[k.pid] = voice{now, l}
			r.spokeAt[k.pid] = now
		}
	}
	type loud struct {
		id events.ParticipantID
		l  int
	}
	var talking []loud
	for id, v := range heard {
		if now.Sub(v.at) > speakerHold {
			delete(heard, id) // also forgets those who left
			continue
		}
		talking = append(talking, loud{id, v.loudness})
	}
	sort.Slice(talking, func(i, j int) bool {
		if talking[i].l != talking[j].l {
			return talking[i].l > talking[j].l
		}
		return talking[i].id < talking[j].id // a stable order for equal levels
	})
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
