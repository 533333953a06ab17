package gateway

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"testing"
	"time"
	"unicode/utf8"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/veet-dev/veet/events"
)

// discardConn is the socket's far end for the frame fuzzer: writes vanish,
// deadlines are accepted. Reads come from the bufio.Reader the test sets.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetDeadline(time.Time) error      { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzReadFrames runs the connection's real reader over arbitrary bytes from
// a client: it never panics, never hangs, and what it hands to the handlers
// respects the limits — whole messages no longer than MaxMessage, text
// only when valid UTF-8.
func FuzzReadFrames(f *testing.F) {
	mask := [4]byte{1, 2, 3, 4}
	frame := func(fin bool, op byte, p []byte) []byte {
		b0 := op
		if fin {
			b0 |= 0x80
		}
		out := []byte{b0}
		switch n := len(p); {
		case n < 126:
			out = append(out, 0x80|byte(n))
		default:
			out = append(out, 0x80|126, byte(n>>8), byte(n))
		}
		out = append(out, mask[:]...)
		for i, c := range p {
			out = append(out, c^mask[i&3])
		}
		return out
	}
	f.Add(frame(true, opText, []byte(`{"action":"ping","id":"p1"}`)))
	f.Add(append(frame(false, opText, []byte(`{"action":`)), frame(true, opContinuation, []byte(`"ping"}`))...))
	f.Add(append(frame(false, opText, []byte("a")), frame(true, opPing, []byte("hi"))...))
	f.Add(frame(true, opText, bytes.Repeat([]byte("x"), 300)))
	f.Add(frame(true, opBinary, []byte{0xff, 0xfe}))
	f.Add(frame(true, opText, []byte{0xff, 0xfe}))
	f.Add(frame(true, opClose, []byte{0x03, 0xe8}))
	f.Add(frame(true, opClose, []byte{0x03}))
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}) // unmasked
	f.Fuzz(func(t *testing.T, data []byte) {
		g := New(Options{Functions: func(string) Handler { return nil }, MaxFrame: 64, MaxMessage: 256, SendQueue: 4})
		c := &conn{g: g, id: "fuzz", nc: discardConn{}, br: bufio.NewReader(bytes.NewReader(data)),
			msgs: make(chan message, 8), closing: make(chan struct{}), out: make(chan []byte, 4), writerDone: make(chan struct{})}
		got := make(chan []message, 1)
		go func() {
			var all []message
			for m := range c.msgs {
				all = append(all, m)
			}
			got <- all
		}()
		go func() { // the writer: drain what the reader queues (pongs, errors)
			for range c.out {
			}
		}()
		done := make(chan struct{})
		go func() { c.read(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("reader still running over %d bytes", len(data))
		}
		c.closeOnce.Do(func() { c.stopOutput(nil) })
		close(c.msgs)
		for _, m := range <-got {
			if len(m.data) > g.opt.MaxMessage {
				t.Fatalf("a %d-byte message got through (limit %d)", len(m.data), g.opt.MaxMessage)
			}
			if m.opcode == opText && !utf8.Valid(m.data) {
				t.Fatalf("a text message that is not UTF-8 got through: %q", m.data)
			}
			if m.opcode != opText && m.opcode != opBinary {
				t.Fatalf("a message with opcode %#x got through", m.opcode)
			}
		}
	})
}

// FuzzRouteSelection: whatever the body, the gateway's route and the
// handlers' decode agree — a message the handlers accept is routed to its
// own action (else it would be refused as misrouted), and route selection
// never panics.
func FuzzRouteSelection(f *testing.F) {
	for _, s := range []string{
		`{"action":"ping","id":"d4","Action":"end"}`,
		`{"action":"ping","id":"d5","action":"end"}`,
		`{"\u0061ction":"lock","id":"k","locked":true}`,
		`{"action":"join","id":"j","code":"abc-defg-hij","name":"Ada"}`,
		`{"action":7}`,
		`not json`,
	} {
		f.Add([]byte(s))
	}
	g := New(Options{Functions: func(string) Handler {
		return func(context.Context, awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error) {
			return awsevents.APIGatewayProxyResponse{}, nil
		}
	}})
	c := &conn{g: g}
	f.Fuzz(func(t *testing.T, body []byte) {
		route := c.selectRoute(body)
		msg, _, err := events.DecodeClient(body)
		if err != nil {
			return
		}
		if act := string(msg.Head().Action); route != act {
			t.Fatalf("%q: routed to %q, decoded as %q", body, route, act)
		}
	})
}
