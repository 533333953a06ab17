package sfu

import (
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/sfu/forward"
)

// Adaptive media: simulcast layers grouped per published track, each
// subscriber's layer per track from its tile sizes and its downlink
// estimate (allocate.go, bwe), and dynacast — publishers told which layers
// anyone receives. The room's loop (every speakerEvery) measures each
// layer's rate, runs every session's allocation and the dynacast; a
// session's new video_sizes are allocated at once.

const (
	// DefaultLastN bounds the videos one subscriber receives.
	DefaultLastN = 25
	// DefaultAudioN and AudioTop: past DefaultAudioN microphones a
	// subscriber hears only the AudioTop most recent speakers.
	DefaultAudioN = 50
	AudioTop      = 3
	// layerOffAfter: a layer nobody receives is switched off this long
	// after (a tile that shrinks and grows back does not restart an
	// encoder); a needed one is switched on at once.
	layerOffAfter = time.Second
	// layerWarmup: a layer just switched on counts as usable while its
	// publisher starts it again.
	layerWarmup = 2 * time.Second
	// liveWithin: a layer whose packets stopped for this long is not used.
	liveWithin = time.Second
	// raiseEvery: a subscriber's layers step up at most this often.
	raiseEvery = time.Second
	// maxRaiseEvery bounds the wait after refused steps; raiseJudged is
	// how long after a step a drop of the estimate counts against it.
	maxRaiseEvery = 4 * time.Second
	raiseJudged   = time.Second
	// raiseQueue: no step up while the subscriber's queue is longer.
	raiseQueue = 10 * time.Millisecond
	// resendShare is the part of a subscriber's estimate (%) that
	// retransmissions may take.
	resendShare = 15
	// The estimator's bounds, bit/s.
	initialEstimate = 1_000_000
	minEstimate     = 150_000
	maxEstimate     = 50_000_000
)

// nominalRate is what a layer costs before it is measured (bit/s): the
// SPA's simulcast encodings, a camera without simulcast, Opus.
func nominalRate(kind webrtc.RTPCodecType, rid string) int {
	if kind == webrtc.RTPCodecTypeAudio {
		return 50_000
	}
	switch rid {
	case events.RIDQuarter:
		return 150_000
	case events.RIDHalf:
		return 500_000
	}
	return 1_500_000
}

// nominalHeight is a layer's height before a keyframe said it: the SPA's
// 720p camera at a quarter, half and full size.
func nominalHeight(rid string) int {
	switch rid {
	case events.RIDQuarter:
		return 180
	case events.RIDHalf:
		return 360
	}
	return 720
}

func ridRank(rid string) int {
	switch rid {
	case events.RIDQuarter:
		return 0
	case events.RIDHalf:
		return 1
	case events.RIDFull:
		return 2
	}
	return 3
}

// dynLayer is what a publisher was told about one layer.
type dynLayer struct {
	active    bool
	onAt      time.Time // when it was last switched on
	unneeded  time.Time // since when nobody receives it; zero while needed
	rate      float64   // measured, bit/s, as copies cost on the link
	lastBytes uint64    // and packets, at the last measure
	lastPkts  uint64
	lastStale uint64 // packets dropped as stale, at the last measure
	behind    uint64 // dropped since the node fell behind on this layer; 0: it keeps up
}

// lag logs a layer on which the node fell behind (its packets waited past
// forward.StaleAfter and were dropped) once when it begins and once when
// it ends, not once a measure.
func (d *dynLayer) lag(log *slog.Logger, track, rid string, stale uint64) {
	n := stale - d.lastStale
	d.lastStale = stale
	switch {
	case n > 0 && d.behind == 0:
		log.Warn("node behind: dropping stale packets", "track", track, "rid", rid, "dropped", n)
		d.behind = n
	case n > 0:
		d.behind += n
	case d.behind > 0:
		log.Info("node caught up", "track", track, "rid", rid, "dropped", d.behind)
		d.behind = 0
	}
}

// addLayer either joins fr to the simulcast track of pub's key from the
// same publish connection (false), or installs pub, whose first layer fr
// is, as that track (true: announce it). A layer joins every subscriber's
// DownTrack of the track at once.
func (r *room) addLayer(pub *published, fr *forward.Receiver) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.tracks[pub.key]
	if cur == nil || cur.pc != pub.pc || !cur.layered() {
		r.install(pub)
		return true
	}
	next := make([]*forward.Receiver, 0, 3)
	for _, l := range *cur.layers.Load() {
		if l.RID() != fr.RID() { // the same RID again replaces the old
			next = append(next, l)
		}
	}
	next = append(next, fr)
	sort.SliceStable(next, func(i, j int) bool {
		a, b := next[i].RID(), next[j].RID()
		if ridRank(a) != ridRank(b) {
			return ridRank(a) < ridRank(b)
		}
		return a < b
	})
	cur.layers.Store(&next)
	if r.muted[pub.key] {
		fr.SetMuted(true)
	}
	// The subscribers' DownTracks join the new layer's list when the
	// allocator targets it (DownTrack.SetTarget).
	return false
}

// removeLayer drops a layer whose track ended; the track ends with its
// last layer.
func (r *room) removeLayer(key trackKey, fr *forward.Receiver) {
	r.mu.Lock()
	pub := r.tracks[key]
	if pub == nil || !pub.layered() || !slices.Contains(*pub.layers.Load(), fr) {
		r.mu.Unlock()
		return
	}
	next := slices.DeleteFunc(slices.Clone(*pub.layers.Load()), func(l *forward.Receiver) bool { return l == fr })
	if len(next) > 0 {
		pub.layers.Store(&next)
		r.retiredBytes += fr.Stats().BytesOut
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.removeTrack(pub)
}

// view is what every session's allocation reads, made by the room loop.
type view struct {
	at      time.Time
	rank    map[events.ParticipantID]int // recent speakers, 0 the latest
	lastN   int
	audioN  int
	layerOf map[*forward.Receiver]dynLayer // copies: the loop changes its own
}

// adapt is the room loop's adaptive step: measure, allocate, dynacast.
func (r *room) adapt(now time.Time) {
	r.mu.Lock()
	v := &view{at: now, rank: map[events.ParticipantID]int{}, lastN: r.node.cfg.LastN, audioN: r.node.cfg.AudioN, layerOf: map[*forward.Receiver]dynLayer{}}
	type spoke struct {
		id events.ParticipantID
		at time.Time
	}
	var spk []spoke
	for id, at := range r.spokeAt {
		if r.parts[id] == nil {
			delete(r.spokeAt, id)
			continue
		}
		spk = append(spk, spoke{id, at})
	}
	sort.Slice(spk, func(i, j int) bool { return spk[i].at.After(spk[j].at) })
	for i, s := range spk {
		v.rank[s.id] = i
	}
	dt := now.Sub(r.adaptedAt).Seconds()
	r.adaptedAt = now
	for _, pub := range r.tracks {
		if pub.dyn == nil {
			pub.dyn = map[string]*dynLayer{}
		}
		for _, l := range pub.receivers() {
			d := pub.dyn[l.RID()]
			if d == nil {
				d = &dynLayer{active: true, onAt: now}
				pub.dyn[l.RID()] = d
			}
			st := l.Stats()
			if dt > 0 && dt < 5 && d.lastBytes != 0 {
				wire := st.BytesIn - d.lastBytes + (st.Packets-d.lastPkts)*forward.PacketOverhead
				d.rate = 0.5*d.rate + 0.5*float64(wire)*8/dt
			}
			d.lastBytes, d.lastPkts = st.BytesIn, st.Packets
			d.lag(r.log, pub.info.TrackID, l.RID(), st.Stale)
			v.layerOf[l] = *d
		}
	}
	var sessions []*session
	for _, p := range r.parts {
		if p.session != nil {
			sessions = append(sessions, p.session)
		}
	}
	r.view.Store(v)
	r.mu.Unlock()
	for _, s := range sessions {
		s.allocate(v)
	}
	r.dynacast(now)
}

// dynacast switches layers on and off at their publishers: a layer is on
// while some subscriber's DownTrack is on it or heading for it.
func (r *room) dynacast(now time.Time) {
	type note struct {
		to     *session
		tracks []events.PublishedLayers
	}
	var notes []note
	r.mu.Lock()
	needed := map[*forward.Receiver]bool{}
	for _, p := range r.parts {
		if s := p.session; s != nil {
			for _, d := range s.downs {
				if l := d.dt.Target(); l != nil {
					needed[l] = true
				}
				if l := d.dt.Current(); l != nil {
					needed[l] = true
				}
			}
		}
	}
	changed := map[events.ParticipantID]bool{}
	for _, pub := range r.tracks {
		if !pub.layered() || pub.dyn == nil {
			continue
		}
		for _, l := range pub.receivers() {
			d := pub.dyn[l.RID()]
			if d == nil {
				continue
			}
			switch {
			case needed[l]:
				d.unneeded = time.Time{}
				if !d.active {
					d.active, d.onAt = true, now
					changed[pub.key.pid] = true
				}
			case d.active && d.unneeded.IsZero():
				d.unneeded = now
			case d.active && now.Sub(d.unneeded) >= layerOffAfter:
				d.active = false
				changed[pub.key.pid] = true
			}
		}
	}
	for pid := range changed {
		p := r.parts[pid]
		if p == nil || p.session == nil {
			continue
		}
		n := note{to: p.session}
		for _, pub := range r.tracks {
			if pub.key.pid != pid || !pub.layered() || pub.mid == "" {
				continue
			}
			pl := events.PublishedLayers{Mid: pub.mid, Active: []string{}}
			seen := map[string]bool{}
			for _, l := range pub.receivers() {
				seen[l.RID()] = true
				if d := pub.dyn[l.RID()]; d != nil && d.active {
					pl.Active = append(pl.Active, l.RID())
				}
			}
			// A layer the offer declares that has not arrived stays on: the
			// browser holds a top layer back until its own estimate allows
			// it, and turning it off here would keep it from ever coming.
			for _, rid := range pub.offered {
				if !seen[rid] {
					pl.Active = append(pl.Active, rid)
				}
			}
			sort.SliceStable(pl.Active, func(i, j int) bool { return ridRank(pl.Active[i]) < ridRank(pl.Active[j]) })
			n.tracks = append(n.tracks, pl)
		}
		sort.Slice(n.tracks, func(i, j int) bool { return n.tracks[i].Mid < n.tracks[j].Mid })
		notes = append(notes, n)
	}
	r.mu.Unlock()
	for _, n := range notes {
		n.to.p.log.Debug("publish layers", "tracks", n.tracks)
		n.to.send(&events.PublishLayers{Tracks: n.tracks})
	}
}

// setSizes keeps a subscriber's video_sizes: height per subscribe mid
// (0 for a tile not shown).
func (s *session) setSizes(sizes []events.VideoSize) {
	m := make(map[string]int, len(sizes))
	for _, z := range sizes {
		h := z.Height
		if z.Width == 0 {
			h = 0
		}
		m[z.Mid] = h
	}
	s.allocMu.Lock()
	s.sizes = m
	s.allocMu.Unlock()
}

// allocate picks the layer of every video the session receives (allocate)
// and points each DownTrack at it.
func (s *session) allocate(v *view) {
	if v == nil {
		return
	}
	s.allocMu.Lock()
	defer s.allocMu.Unlock()
	r := s.p.room
	r.mu.Lock()
	downs := make([]*down, 0, len(s.downs))
	for _, d := range s.downs {
		downs = append(downs, d)
	}
	sort.Slice(downs, func(i, j int) bool { return downs[i].pub.info.TrackID < downs[j].pub.info.TrackID })
	mids := make([]string, len(downs))
	for i, d := range downs {
		mids[i] = d.mid
	}
	r.mu.Unlock()
	tracks := make([]allocTrack, len(downs))
	layers := make([][]*forward.Receiver, len(downs))
	var worstLoss float64
	// Past audioN microphones only the most recent speakers are heard: a
	// room of hundreds would otherwise send each of them hundreds of
	// mostly silent streams.
	mics := 0
	for _, d := range downs {
		if d.pub.key.source == events.SourceMicrophone {
			mics++
		}
	}
	heard := func(d *down) bool {
		if d.pub.key.source != events.SourceMicrophone || mics <= v.audioN || v.audioN <= 0 {
			return true
		}
		rk, ok := v.rank[d.pub.key.pid]
		return ok && rk < AudioTop
	}
	for i, d := range downs {
		ls := d.pub.receivers()
		layers[i] = ls
		t := allocTrack{video: d.pub.recv.Kind() == webrtc.RTPCodecTypeVideo, screen: d.pub.key.source == events.SourceScreen,
			speaker: -1, cur: -1}
		if rk, ok := v.rank[d.pub.key.pid]; ok {
			t.speaker = rk
		}
		if s.sizes != nil {
			t.sized = true
			t.height = s.sizes[mids[i]] // a mid not listed: not shown
		}
		target := d.dt.Target()
		for j, l := range ls {
			info := layerInfo{rate: nominalRate(l.Kind(), l.RID()), height: nominalHeight(l.RID()), usable: true}
			if dl, ok := v.layerOf[l]; ok {
				if dl.rate > 0 && l.Live(liveWithin) {
					info.rate = int(dl.rate)
				}
				// A layer its publisher was told to stop can be asked
				// for again; one that should flow and does not is out.
				info.usable = !dl.active || l.Live(liveWithin) || v.at.Sub(dl.onAt) < layerWarmup
			}
			if _, h := l.Size(); h > 0 {
				info.height = h
			}
			if l.Muted() {
				info.rate = 0 // nothing is forwarded: nothing to budget
			}
			if len(ls) == 1 {
				info.height = 0 // one layer: whatever the tile, it is that one
				if dl := v.layerOf[l]; dl.rate == 0 {
					// Not measured yet (a new track): it goes on as it
					// started until it is, rather than pausing on a guess.
					info.rate = 0
				}
			}
			t.layers = append(t.layers, info)
			if l == target {
				t.cur = j
			}
		}
		if t.video {
			worstLoss = max(worstLoss, d.dt.Report().FractionLost)
		} else if !heard(d) {
			t.layers = nil // costs nothing: not sent
		}
		tracks[i] = t
	}
	if rep := worstLoss; rep != s.lastLoss {
		s.lastLoss = rep
		s.est.OnReceiverLoss(rep, v.at)
	}
	lastN := v.lastN
	if lastN <= 0 {
		lastN = DefaultLastN
	}
	est := s.est.Estimate()
	// A step up waits until the link had time to answer the last one: the
	// feedback on it comes a round trip (and a queue) later.
	// Nor while a queue stands on the path: the link is full already.
	// A step up that the link refused (the estimate fell soon after)
	// doubles the wait before the next, up to maxRaiseEvery.
	if s.raiseWait == 0 {
		s.raiseWait = raiseEvery
	}
	if !s.raisedAt.IsZero() && !s.judged && v.at.Sub(s.raisedAt) > raiseJudged {
		s.judged = true
		if s.est.DroppedSince(s.raisedAt) {
			s.raiseWait = min(2*s.raiseWait, maxRaiseEvery)
		} else {
			s.raiseWait = raiseEvery
		}
	}
	raise := v.at.Sub(s.raisedAt) >= s.raiseWait && s.est.Stats().Queue < raiseQueue
	got := allocate(est, tracks, lastN, raise, !s.est.Congested(v.at))
	s.tr.SetResendRate(est * resendShare / 100)
	for i, d := range downs {
		if got[i] > tracks[i].cur && tracks[i].cur >= 0 {
			s.raisedAt, s.judged = v.at, false
		}
		if !tracks[i].video {
			want := d.pub.recv
			if !heard(d) {
				want = nil
			}
			if d.dt.SetTarget(want) {
				s.p.log.Debug("audio past the bound", "track", d.pub.info.TrackID, "heard", want != nil)
			}
			continue
		}
		var want *forward.Receiver
		if got[i] >= 0 {
			want = layers[i][got[i]]
		}
		if d.dt.SetTarget(want) {
			s.p.log.Debug("layer chosen", "track", d.pub.info.TrackID, "rid", ridOf(want), "estimate", s.est.Estimate())
		}
	}
}

func ridOf(l *forward.Receiver) string {
	if l == nil {
		return "paused"
	}
	if l.RID() == "" {
		return "single"
	}
	return l.RID()
}
