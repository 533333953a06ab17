// Package wsclient is the WebSocket test client the whole-stack tests share
// (localstack's, the SFU's): dial the gateway, send protocol messages with
// fresh ids, and wait, with a timeout, for the events a browser would get.
// It is a normal package so that tests of other packages can import it.
//
// Every received event is kept in arrival order. Next/WaitFor take the first
// event not taken before that matches, so a test can wait for events in any
// order without losing the ones it skips; All returns everything. A presence
// batch is kept, followed by each of its changes as an event of its own
// (InBatch set), as a client applies them: a test waits for a
// participant_joined however it came.
package wsclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// DefaultTimeout bounds every wait that is not given its own.
const DefaultTimeout = 5 * time.Second

// Event is one server event as received, with the fields every test looks at
// decoded and the raw JSON for the rest.
type Event struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	Seq       uint64 `json:"seq,omitempty"`
	Code      string `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	Raw       json.RawMessage
	At        time.Time
	// InBatch: the event is a change of the presence batch before it.
	InBatch bool
}

// Decode unmarshals the whole event into v (e.g. *events.Joined).
func (e Event) Decode(v any) error { return json.Unmarshal(e.Raw, v) }

func (e Event) String() string { return string(e.Raw) }

// Options tunes Dial.
type Options struct {
	Header http.Header
	// WriteBufferSize is the largest frame the client sends: a longer message
	// goes out in several frames. Default 64 KiB, so that a message up to that
	// size is one frame, as browsers send it.
	WriteBufferSize int
	// OnPong is called with each pong's payload (from the reader goroutine).
	OnPong func(payload string)
}

// Client is one test WebSocket.
type Client struct {
	Name string // for failure messages
	ws   *websocket.Conn
	ids  atomic.Int64

	mu      sync.Mutex
	events  []Event
	taken   []bool
	notify  chan struct{} // closed and replaced when an event arrives or the socket ends
	done    bool
	closeCd int
	closeTx string
	readErr error
}

// Dial connects or fails the test; the socket is closed at cleanup.
func Dial(t testing.TB, url string, opt Options) *Client {
	t.Helper()
	c, resp, err := DialErr(url, opt)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dial %s: %v %s", url, err, status)
	}
	t.Cleanup(c.Close)
	return c
}

// DialErr connects; on a refused handshake resp carries the status.
func DialErr(url string, opt Options) (*Client, *http.Response, error) {
	if opt.WriteBufferSize == 0 {
		opt.WriteBufferSize = 64 * 1024
	}
	d := websocket.Dialer{HandshakeTimeout: DefaultTimeout, WriteBufferSize: opt.WriteBufferSize}
	ws, resp, err := d.Dial(url, opt.Header)
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(1 << 20)
	c := &Client{ws: ws, notify: make(chan struct{})}
	ws.SetCloseHandler(func(code int, text string) error {
		c.mu.Lock()
		c.closeCd, c.closeTx = code, text
		c.mu.Unlock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		return nil
	})
	if opt.OnPong != nil {
		ws.SetPongHandler(func(p string) error { opt.OnPong(p); return nil })
	}
	go c.read()
	return c, resp, nil
}

func (c *Client) read() {
	for {
		_, data, err := c.ws.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.done, c.readErr = true, err
			var ce *websocket.CloseError
			if errors.As(err, &ce) && c.closeCd == 0 {
				c.closeCd, c.closeTx = ce.Code, ce.Text
			}
		} else {
			e := Event{Raw: append(json.RawMessage(nil), data...), At: time.Now()}
			if json.Unmarshal(data, &e) != nil {
				e.Type = "(not json)"
			}
			c.events = append(c.events, e)
			c.taken = append(c.taken, false)
			if e.Type == "presence" {
				var b struct {
					Changes []json.RawMessage `json:"changes"`
				}
				_ = json.Unmarshal(data, &b)
				for _, raw := range b.Changes {
					ce := Event{Raw: raw, At: e.At, InBatch: true}
					_ = json.Unmarshal(raw, &ce)
					c.events = append(c.events, ce)
					c.taken = append(c.taken, false)
				}
			}
		}
		close(c.notify)
		c.notify = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// NewID returns a fresh request id for this client.
func (c *Client) NewID() string { return "r" + strconv.FormatInt(c.ids.Add(1), 10) }

// Send sends one protocol message: action plus fields, with a fresh id
// unless fields has one. It returns the id.
func (c *Client) Send(action string, fields map[string]any) (string, error) {
	m := map[string]any{"action": action}
	for k, v := range fields {
		m[k] = v
	}
	if _, ok := m["id"]; !ok {
		m["id"] = c.NewID()
	}
	data, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	id, _ := m["id"].(string)
	return id, c.SendRaw(data)
}

// MustSend is Send that fails the test on error.
func (c *Client) MustSend(t testing.TB, action string, fields map[string]any) string {
	t.Helper()
	id, err := c.Send(action, fields)
	if err != nil {
		t.Fatalf("%s: send %s: %v", c.Name, action, err)
	}
	return id
}

// SendRaw sends data as one text message.
func (c *Client) SendRaw(data []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(DefaultTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// Next returns the first event not taken yet that match accepts, waiting up
// to timeout; ok is false on timeout or when the socket closed first.
func (c *Client) Next(match func(Event) bool, timeout time.Duration) (Event, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i, e := range c.events {
			if !c.taken[i] && match(e) {
				c.taken[i] = true
				c.mu.Unlock()
				return e, true
			}
		}
		done, notify := c.done, c.notify
		c.mu.Unlock()
		if done {
			return Event{}, false
		}
		select {
		case <-notify:
		case <-deadline.C:
			return Event{}, false
		}
	}
}

// WaitFor returns the next event of type typ or fails the test.
func (c *Client) WaitFor(t testing.TB, typ string) Event {
	t.Helper()
	e, ok := c.Next(func(e Event) bool { return e.Type == typ }, DefaultTimeout)
	if !ok {
		t.Fatalf("%s: no %q event within %s; got %s", c.Name, typ, DefaultTimeout, c.Dump())
	}
	return e
}

// WaitReply returns the next event answering request id (a reply or an
// error) or fails the test.
func (c *Client) WaitReply(t testing.TB, id string) Event {
	t.Helper()
	e, ok := c.Next(func(e Event) bool { return e.ID == id }, DefaultTimeout)
	if !ok {
		t.Fatalf("%s: no reply to %q within %s; got %s", c.Name, id, DefaultTimeout, c.Dump())
	}
	return e
}

// Quiet reports that no untaken event matching match arrives within d.
func (c *Client) Quiet(match func(Event) bool, d time.Duration) (Event, bool) {
	e, ok := c.Next(match, d)
	return e, !ok
}

// All returns every event received so far, taken or not.
func (c *Client) All() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// Dump renders what the client received, for failure messages.
func (c *Client) Dump() string {
	out := ""
	for _, e := range c.All() {
		out += "\n  " + truncate(string(e.Raw), 300)
	}
	if out == "" {
		out = "(nothing)"
	}
	if done, code, _ := c.Closed(); done {
		out += fmt.Sprintf("\n  (socket closed, code %d)", code)
	}
	return out
}

// Closed reports whether the socket ended, and the close code it got.
func (c *Client) Closed() (done bool, code int, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done, c.closeCd, c.closeTx
}

// WaitClosed waits until the server closes the socket and returns the code.
func (c *Client) WaitClosed(t testing.TB) int {
	t.Helper()
	deadline := time.Now().Add(DefaultTimeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		done, code, notify := c.done, c.closeCd, c.notify
		c.mu.Unlock()
		if done {
			return code
		}
		select {
		case <-notify:
		case <-time.After(time.Until(deadline)):
		}
	}
	t.Fatalf("%s: socket still open after %s", c.Name, DefaultTimeout)
	return 0
}

// Close closes the socket cleanly (close frame 1000, then TCP).
func (c *Client) Close() {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.ws.Close()
}

// Drop cuts the TCP connection without a close frame, like a laptop whose
// Wi-Fi went away.
func (c *Client) Drop() {
	if tc, ok := c.ws.NetConn().(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.ws.NetConn().Close()
}

// Conn is the underlying gorilla connection, for tests that need frames.
func (c *Client) Conn() *websocket.Conn { return c.ws }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
