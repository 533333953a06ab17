package push

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/veet-dev/veet/events"
)

// Bounded is a Pusher that runs at most n calls of the one it wraps at
// once; the others wait their turn (or their context). A process that
// pushes to many sockets at once (a node's rooms, a Lambda's broadcast)
// holds that many requests in flight, not one per socket.
type Bounded struct {
	p   Pusher
	sem chan struct{}
}

// NewBounded wraps p; n ≤ 0 means MaxConns.
func NewBounded(p Pusher, n int) *Bounded {
	if n <= 0 {
		n = MaxConns
	}
	return &Bounded{p: p, sem: make(chan struct{}, n)}
}

func (b *Bounded) acquire(ctx context.Context) error {
	select {
	case b.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Post waits for a turn, then posts.
func (b *Bounded) Post(ctx context.Context, to events.ConnRef, data []byte) error {
	if err := b.acquire(ctx); err != nil {
		return err
	}
	defer func() { <-b.sem }()
	return b.p.Post(ctx, to, data)
}

// Delete waits for a turn, then closes the connection.
func (b *Bounded) Delete(ctx context.Context, to events.ConnRef) error {
	if err := b.acquire(ctx); err != nil {
		return err
	}
	defer func() { <-b.sem }()
	return b.p.Delete(ctx, to)
}

// Broadcast posts data to every connection, MaxConns at a time, each post
// within timeout, and returns the connections found gone (410) and how many
// other posts failed (with the last such error).
func Broadcast(ctx context.Context, p Pusher, to []events.ConnRef, data []byte, timeout time.Duration) (gone []events.ConnRef, failed int, last error) {
	if len(to) == 0 {
		return nil, 0, nil
	}
	work := make(chan events.ConnRef)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(MaxConns, len(to)) {
		wg.Go(func() {
			for ref := range work {
				pctx, cancel := context.WithTimeout(ctx, timeout)
				err := p.Post(pctx, ref, data)
				cancel()
				if err == nil {
					continue
				}
				mu.Lock()
				if errors.Is(err, ErrGone) {
					gone = append(gone, ref)
				} else {
					failed, last = failed+1, err
				}
				mu.Unlock()
			}
		})
	}
	for _, ref := range to {
		if ref.ConnectionID != "" {
			work <- ref
		}
	}
	close(work)
	wg.Wait()
	return gone, failed, last
}
