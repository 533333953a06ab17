// Package peer is a meeting participant that speaks veet's WebSocket
// protocol the way the SPA does (events/PROTOCOL.md), with real pion media
// (internal/simpeer) or none: it joins with its token and a media session,
// rejoins on a new socket keeping the session, follows media_reconnect to a
// new session on the room's new node (make-before-break when the old node
// drains), rejoins on rejoin and not_joined, and drops node events of older
// epochs and other sessions. The fault suite (chaos/) and the large-meeting
// benchmark drive the real system with it.
package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/simpeer"
)

// Options describes one participant.
type Options struct {
	URL   string // the WebSocket API, ws://host/ws
	Code  events.RoomCode
	Name  string
	Token string // a host or participant token of the meeting
	// Media publishes a microphone and a camera (at VideoBps) and receives
	// everyone's; without it the peer joins for presence only.
	Media    bool
	VideoBps int
	// Regions maps each region to its WebSocket API: a join answered
	// wrong_region reconnects to the meeting's region and joins there.
	Regions map[string]string
	Log     *slog.Logger
}

// Peer is one participant.
type Peer struct {
	opt  Options
	api  *webrtc.API
	gaps *simpeer.Gaps
	log  *slog.Logger
	ids  atomic.Int64

	mu      sync.Mutex
	ws      *websocket.Conn
	id      events.ParticipantID
	token   string
	epoch   uint64
	cur     *simpeer.Client // the media session in use
	old     *simpeer.Client // a session being retired (make-before-break)
	joining *simpeer.Client // the session a join in flight is for
	migrate bool
	waiters map[string]chan wsEvent // request id → its reply
	closed  bool
	stats   Stats
	seq     presence

	joined chan struct{} // closed at the first joined
	once   sync.Once
	done   chan struct{}
}

// Stats counts what the peer saw and did.
type Stats struct {
	Joins, Reconnects, MediaReconnects, Rejoins, Stale int
}

// wsEvent is one event as received: its common fields, and the whole.
type wsEvent struct {
	events.Meta
	Code string `json:"code"`
	raw  []byte
}

// Join dials, joins and waits for the joined reply.
func Join(ctx context.Context, opt Options) (*Peer, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.VideoBps == 0 {
		opt.VideoBps = 300_000
	}
	api, err := simpeer.NewAPI()
	if err != nil {
		return nil, err
	}
	p := &Peer{opt: opt, api: api, gaps: simpeer.NewGaps(), log: opt.Log.With("peer", opt.Name), token: opt.Token,
		waiters: map[string]chan wsEvent{}, joined: make(chan struct{}), done: make(chan struct{})}
	if err := p.dial(ctx); err != nil {
		return nil, err
	}
	go p.readLoop()
	if err := p.joinNew(false); err != nil {
		p.Close()
		return nil, err
	}
	select {
	case <-p.joined:
		return p, nil
	case <-ctx.Done():
		p.Close()
		return nil, fmt.Errorf("peer %s: no joined reply: %w", opt.Name, ctx.Err())
	}
}

func (p *Peer) dial(ctx context.Context) error {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	p.mu.Lock()
	url := p.opt.URL
	p.mu.Unlock()
	ws, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return err
	}
	ws.SetReadLimit(1 << 20)
	p.mu.Lock()
	p.ws = ws
	p.mu.Unlock()
	return nil
}

// ID is the participant id (set once joined).
func (p *Peer) ID() events.ParticipantID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.id
}

// Epoch is the placement epoch the peer knows.
func (p *Peer) Epoch() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

// Stats returns the counters so far.
func (p *Peer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Gaps is the arrival record of what the peer receives, across sessions.
func (p *Peer) Gaps() *simpeer.Gaps { return p.gaps }

// Media is the current media session's client (nil without media).
func (p *Peer) Media() *simpeer.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// Close leaves: closes the socket and the media.
func (p *Peer) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	ws, cur, old, joining := p.ws, p.cur, p.old, p.joining
	p.mu.Unlock()
	close(p.done)
	if ws != nil {
		_ = ws.Close()
	}
	for _, c := range []*simpeer.Client{cur, old, joining} {
		if c != nil {
			c.Close()
		}
	}
}

// DropSocket closes the WebSocket as a network blip would; the peer
// reconnects and joins again with its session.
func (p *Peer) DropSocket() {
	p.mu.Lock()
	ws := p.ws
	p.mu.Unlock()
	if ws != nil {
		_ = ws.Close()
	}
}

// send writes one client message with a fresh id and returns the id.
func (p *Peer) send(action string, fields map[string]any) (string, error) {
	id := fmt.Sprintf("r%d", p.ids.Add(1))
	msg := map[string]any{"action": action, "id": id}
	for k, v := range fields {
		msg[k] = v
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ws == nil {
		return "", errors.New("peer: not connected")
	}
	_ = p.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return id, p.ws.WriteMessage(websocket.TextMessage, data)
}

// Request sends a message and waits for the event that answers it.
func (p *Peer) Request(ctx context.Context, action string, fields map[string]any) (events.Meta, string, error) {
	ch := make(chan wsEvent, 1)
	id := fmt.Sprintf("q%d", p.ids.Add(1))
	p.mu.Lock()
	p.waiters[id] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiters, id)
		p.mu.Unlock()
	}()
	msg := map[string]any{"action": action, "id": id}
	for k, v := range fields {
		msg[k] = v
	}
	data, _ := json.Marshal(msg)
	p.mu.Lock()
	var err error
	if p.ws == nil {
		err = errors.New("peer: not connected")
	} else {
		_ = p.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		err = p.ws.WriteMessage(websocket.TextMessage, data)
	}
	p.mu.Unlock()
	if err != nil {
		return events.Meta{}, "", err
	}
	select {
	case e := <-ch:
		return e.Meta, e.Code, nil
	case <-ctx.Done():
		return events.Meta{}, "", ctx.Err()
	}
}

// newClient is a media client for a new session of this participant: its
// messages go over the peer's socket, naming the session.
func (p *Peer) newClient() (*simpeer.Client, error) {
	c, err := simpeer.New(p.api, p.opt.Code, AsMessages(func(action string, fields map[string]any) error {
		_, err := p.send(action, fields)
		return err
	}))
	if err != nil {
		return nil, err
	}
	c.ShareGaps(p.gaps)
	return c, nil
}

// joinNew joins with a new media session (or none, without media);
// migrate keeps the current one until the new one receives the same.
func (p *Peer) joinNew(migrate bool) error {
	var c *simpeer.Client
	if p.opt.Media {
		var err error
		if c, err = p.newClient(); err != nil {
			return err
		}
	}
	p.mu.Lock()
	if p.joining != nil {
		p.joining.Close()
	}
	p.joining, p.migrate = c, migrate
	p.mu.Unlock()
	return p.sendJoin(c, false)
}

// rejoin joins again with the current session, keeping its media.
func (p *Peer) rejoin() error {
	p.mu.Lock()
	c := p.cur
	p.stats.Rejoins++
	p.mu.Unlock()
	return p.sendJoin(c, c != nil)
}

func (p *Peer) sendJoin(c *simpeer.Client, resume bool) error {
	p.mu.Lock()
	tok := p.token
	p.stats.Joins++
	p.mu.Unlock()
	fields := map[string]any{"code": p.opt.Code, "name": p.opt.Name, "token": tok, "micOn": p.opt.Media, "camOn": p.opt.Media}
	if c != nil {
		fields["session"] = c.Session()
		if resume {
			fields["resume"] = true
		}
	}
	_, err := p.send("join", fields)
	return err
}

// Create asks the service for a new meeting and returns its code and the
// host token.
func Create(ctx context.Context, url, title string) (events.RoomCode, string, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return "", "", err
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"action": "create", "id": "c1", "title": title}); err != nil {
		return "", "", err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
	}
	for {
		var created events.Created
		_, data, err := ws.ReadMessage()
		if err != nil {
			return "", "", err
		}
		if json.Unmarshal(data, &created) == nil && created.Type == events.TypeCreated {
			return created.Code, created.HostToken, nil
		}
		if created.Type == events.TypeError {
			return "", "", fmt.Errorf("create refused: %s", data)
		}
	}
}

// AsMessages turns a simulated client's media commands into the client
// messages a browser sends for them (publish_offer, subscribe_answer,
// candidate), handed to send.
func AsMessages(send func(action string, fields map[string]any) error) simpeer.SendFunc {
	return func(_ context.Context, cmd events.Command) error {
		switch cmd.Type {
		case events.CmdPublishOffer:
			return send("publish_offer", map[string]any{"session": cmd.Session, "sdp": cmd.SDP, "tracks": cmd.Tracks})
		case events.CmdSubscribeAnswer:
			return send("subscribe_answer", map[string]any{"session": cmd.Session, "offerId": cmd.OfferID, "sdp": cmd.SDP})
		case events.CmdCandidate:
			return send("candidate", map[string]any{"session": cmd.Session, "target": cmd.Target, "candidate": cmd.Candidate})
		}
		return fmt.Errorf("peer: no client action for %s", cmd.Type)
	}
}
