package peer

import (
	"context"
	"encoding/json"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/simpeer"
)

// nodeEvents are the events a media node sends; they carry the placement
// epoch and, when they concern our media, its session.
var nodeEvents = map[events.EventType]bool{
	events.TypePublishAnswer: true, events.TypeSubscribeOffer: true, events.TypeICECandidate: true,
	events.TypeTracks: true, events.TypeActiveSpeakers: true, events.TypeMediaReconnect: true, events.TypeRejoin: true,
}

// readLoop reads events until the peer closes, reconnecting the socket
// whenever it drops.
func (p *Peer) readLoop() {
	for {
		p.mu.Lock()
		ws := p.ws
		p.mu.Unlock()
		if ws != nil {
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					break
				}
				p.handle(data)
			}
		}
		if !p.reconnect() {
			return
		}
	}
}

// reconnect dials again with backoff, for as long as the peer is open, and
// joins with the session it has.
func (p *Peer) reconnect() bool {
	p.mu.Lock()
	p.ws = nil
	p.mu.Unlock()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		select {
		case <-p.done:
			return false
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.dial(ctx)
		cancel()
		if err != nil {
			continue
		}
		p.mu.Lock()
		p.stats.Reconnects++
		joining := p.joining
		p.mu.Unlock()
		// A join in flight for a new session is sent again; otherwise the
		// session in use resumes.
		send := p.rejoin
		if joining != nil {
			send = func() error { return p.sendJoin(joining, false) }
		}
		if err := send(); err != nil {
			continue
		}
		return true
	}
}

// stale reports a node event the peer must not apply.
func (p *Peer) stale(e wsEvent) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sess := func(c *simpeer.Client) bool { return c != nil && c.Session() == e.Session }
	if e.Type == events.TypeError {
		return e.Session != "" && !sess(p.cur) && !sess(p.joining) && !sess(p.old)
	}
	if !nodeEvents[e.Type] {
		return false
	}
	if e.Epoch != 0 && e.Epoch < p.epoch && !sess(p.old) {
		return true
	}
	return e.Session != "" && !sess(p.cur) && !sess(p.joining) && !sess(p.old)
}

// clientFor is the media client of the event's session.
func (p *Peer) clientFor(session string) *simpeer.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range []*simpeer.Client{p.cur, p.joining, p.old} {
		if c != nil && c.Session() == session {
			return c
		}
	}
	return nil
}

func (p *Peer) handle(data []byte) {
	var e wsEvent
	if json.Unmarshal(data, &e) != nil {
		return
	}
	e.raw = data
	if p.stale(e) {
		p.mu.Lock()
		p.stats.Stale++
		p.mu.Unlock()
		return
	}
	p.seq.note(p, e)
	p.mu.Lock()
	if w := p.waiters[e.ID]; w != nil && e.ID != "" {
		delete(p.waiters, e.ID)
		w <- e
	}
	p.mu.Unlock()
	switch e.Type {
	case events.TypeJoined:
		p.onJoined(data)
	case events.TypeMediaReconnect:
		var mr events.MediaReconnect
		_ = json.Unmarshal(data, &mr)
		p.mu.Lock()
		newer := mr.Epoch > p.epoch || (mr.Session != "" && p.cur != nil && mr.Session == p.cur.Session())
		if newer && mr.Epoch > p.epoch {
			p.epoch = mr.Epoch
		}
		p.stats.MediaReconnects++
		p.mu.Unlock()
		if newer {
			if err := p.joinNew(mr.Migrate); err != nil {
				p.log.Warn("join after media_reconnect", "err", err)
			}
		}
	case events.TypeRejoin:
		_ = p.rejoin()
	case events.TypeError:
		if e.Code == string(events.CodeWrongRegion) {
			p.redirect(data)
		}
		if e.Code == string(events.CodeNotJoined) {
			p.mu.Lock()
			in := p.id != "" && p.joining == nil
			p.mu.Unlock()
			if in {
				_ = p.rejoin()
			}
		}
	}
	if nodeEvents[e.Type] || e.Type == events.TypeError {
		if c := p.clientFor(e.Session); c != nil {
			c.Deliver(data)
		}
	}
}

// onJoined takes the joined reply: a join for the session in use keeps it;
// one for a new session starts its media and retires the old session (at
// once, or once the new one receives the same when migrating).
func (p *Peer) onJoined(data []byte) {
	var j events.Joined
	if json.Unmarshal(data, &j) != nil {
		return
	}
	p.mu.Lock()
	p.id, p.token = j.You.ID, j.Token
	p.epoch = max(p.epoch, j.Epoch)
	next := p.joining
	if next == nil || next.Session() != j.Session {
		p.mu.Unlock()
		p.once.Do(func() { close(p.joined) })
		return // a rejoin of the session in use
	}
	prev, migrate := p.cur, p.migrate
	p.cur, p.joining = next, nil
	if migrate && prev != nil {
		if p.old != nil {
			p.old.Close()
		}
		p.old = prev
	}
	next.ID = j.You.ID
	next.SetEpoch(j.Epoch)
	p.mu.Unlock()
	p.once.Do(func() { close(p.joined) })
	if prev != nil && !migrate {
		prev.Close()
	}
	go p.startMedia(next, prev, migrate)
}

// startMedia publishes on a new session and, when migrating, closes the old
// one once the new receives all it did (plus a second for keyframes).
func (p *Peer) startMedia(next, prev *simpeer.Client, migrate bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := next.Publish(ctx, p.opt.VideoBps, events.SourceMicrophone, events.SourceCamera); err != nil {
		p.log.Warn("publish failed", "session", next.Session(), "err", err)
	}
	if !migrate || prev == nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !covers(next, prev) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	p.mu.Lock()
	if p.old == prev {
		p.old = nil
	}
	p.mu.Unlock()
	prev.Close()
}

// covers reports whether next receives every track prev does, with
// packets arriving.
func covers(next, prev *simpeer.Client) bool {
	for _, in := range prev.Ins() {
		got := next.In(in.ID)
		if got == nil || got.Packets.Load() < 5 {
			return false
		}
	}
	return true
}

// redirect moves the peer to the region a wrong_region error names: its
// socket closes and the read loop dials the region's endpoint and joins
// there.
func (p *Peer) redirect(data []byte) {
	var e events.ErrorEvent
	if json.Unmarshal(data, &e) != nil {
		return
	}
	p.mu.Lock()
	url, ok := p.opt.Regions[e.Region]
	if ok {
		p.opt.URL = url
	}
	ws := p.ws
	p.mu.Unlock()
	if !ok {
		p.log.Warn("meeting in a region the peer has no endpoint for", "region", e.Region)
		return
	}
	p.log.Info("meeting lives in another region; reconnecting there", "region", e.Region)
	if ws != nil {
		_ = ws.Close()
	}
}
