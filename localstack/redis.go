package localstack

import (
	"context"
	"fmt"
	"net/url"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/internal/config"
)

// localRedis is the stack's Redis: a client, and the embedded server when
// there is no real one.
type localRedis struct {
	client   *redis.Client
	embedded *miniredis.Miniredis
	url      string
}

// openRedis connects to url, or starts an embedded miniredis when url is "".
//
// miniredis keeps TTLs frozen unless told otherwise; ClockTTL makes them run
// on the wall clock (expired keys go at the next command that touches the
// database), so connection and room TTLs expire locally as they do in
// Redis, without a ticker calling FastForward.
func openRedis(ctx context.Context, rawURL string) (*localRedis, error) {
	r := &localRedis{url: rawURL}
	if rawURL == "" {
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true)
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("localstack: embedded redis: %w", err)
		}
		r.embedded = m
		r.url = "redis://" + m.Addr()
	}
	opt, err := redis.ParseURL(r.url)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("localstack: redis url: %w", err)
	}
	config.TuneRedis(opt)
	r.client = redis.NewClient(opt)
	if err := r.client.Ping(ctx).Err(); err != nil {
		r.close()
		return nil, fmt.Errorf("localstack: redis at %s does not answer: %w", redact(r.url), err)
	}
	return r, nil
}

func (r *localRedis) describe() string {
	if r.embedded != nil {
		return "embedded " + r.embedded.Addr()
	}
	return redact(r.url)
}

func (r *localRedis) close() error {
	var err error
	if r.client != nil {
		err = r.client.Close()
	}
	if r.embedded != nil {
		r.embedded.Close()
	}
	return err
}

// redact drops a password from a Redis URL before it is logged.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}
