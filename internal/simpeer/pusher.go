// Package simpeer is a simulated meeting participant for the SFU's tests and
// load generator: a real pion client with a publish and a subscribe
// PeerConnection that talks to a node through its command channel and gets
// the node's events through a Pusher, the way a browser would through the
// gateway.
package simpeer

import (
	"bytes"
	"context"
	"sync"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
)

// Pusher is an in-memory push.Pusher: events for a connection go to the
// client registered for it; a connection nobody holds is gone (410).
type Pusher struct {
	mu      sync.Mutex
	clients map[events.ConnectionID]*Client
	deleted []events.ConnectionID
	lose    map[events.ConnectionID]int // subscribe offers to lose on the way
	stalled map[events.ConnectionID]bool
}

// Stall makes pushes to c hang until their context ends, like an endpoint
// that stopped answering.
func (p *Pusher) Stall(c *Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled == nil {
		p.stalled = map[events.ConnectionID]bool{}
	}
	p.stalled[c.Conn.ConnectionID] = true
}

// LoseOffers makes the next n SubscribeOffers to c vanish after a
// successful post, like a push that API Gateway accepted but the socket
// never delivered.
func (p *Pusher) LoseOffers(c *Client, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lose == nil {
		p.lose = map[events.ConnectionID]int{}
	}
	p.lose[c.Conn.ConnectionID] = n
}

// NewPusher returns an empty Pusher.
func NewPusher() *Pusher { return &Pusher{clients: map[events.ConnectionID]*Client{}} }

// Attach routes pushes for c's connection to c.
func (p *Pusher) Attach(c *Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[c.Conn.ConnectionID] = c
}

// Detach makes c's connection gone.
func (p *Pusher) Detach(c *Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.clients, c.Conn.ConnectionID)
}

// Post implements push.Pusher.
func (p *Pusher) Post(ctx context.Context, to events.ConnRef, data []byte) error {
	p.mu.Lock()
	if p.stalled[to.ConnectionID] {
		p.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	c := p.clients[to.ConnectionID]
	lost := c != nil && p.lose[to.ConnectionID] > 0 && bytes.Contains(data, []byte(`"type":"subscribe_offer"`))
	if lost {
		p.lose[to.ConnectionID]--
	}
	p.mu.Unlock()
	if lost {
		return nil
	}
	if c == nil {
		return push.ErrGone
	}
	c.Deliver(data)
	return nil
}

// Delete implements push.Pusher.
func (p *Pusher) Delete(ctx context.Context, to events.ConnRef) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.clients, to.ConnectionID)
	p.deleted = append(p.deleted, to.ConnectionID)
	return nil
}
