package gateway_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veet-dev/veet/localstack/gateway"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// rawDial completes a handshake by hand, so a test can send frames no
// library would.
func rawDial(t *testing.T, base string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %v %+v", err, resp)
	}
	return nc, br
}

// readClose reads frames until a close frame and returns its code.
func readClose(t *testing.T, br *bufio.Reader) int {
	t.Helper()
	for range 10 {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("read: %v", err)
		}
		p := make([]byte, h[1]&0x7F)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		if h[0]&0x0F == 0x8 && len(p) >= 2 {
			return int(binary.BigEndian.Uint16(p))
		}
	}
	t.Fatal("no close frame")
	return 0
}

func TestGatewayRejectsUnmaskedFrames(t *testing.T) {
	rec := newRecorder()
	_, base := start(t, rec, gateway.Options{})
	nc, br := rawDial(t, base)
	_, _ = nc.Write([]byte{0x81, 0x02, 'h', 'i'}) // text "hi", not masked
	if code := readClose(t, br); code != gateway.CloseProtocolError {
		t.Errorf("close code %d, want 1002", code)
	}
	calls := rec.waitCalls(t, "$disconnect", hasRoute("$disconnect", 1))
	if code := byRoute(calls, "$disconnect")[0].req.RequestContext.DisconnectStatusCode; code != 1002 {
		t.Errorf("$disconnect code %d", code)
	}
	if n := len(calls); n != 2 {
		t.Errorf("%d calls, want $connect and $disconnect only", n)
	}
}

func TestGatewayRejectsBadHandshake(t *testing.T) {
	rec := newRecorder()
	_, base := start(t, rec, gateway.Options{})
	resp, err := http.Get(base + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("plain GET /ws: %d, want 400", resp.StatusCode)
	}
	if len(rec.all()) != 0 {
		t.Errorf("$connect invoked for a bad handshake")
	}
}

func TestGatewayAnswersPing(t *testing.T) {
	rec := newRecorder()
	_, base := start(t, rec, gateway.Options{})
	got := make(chan string, 1)
	c := wsclient.Dial(t, wsURL(base), wsclient.Options{OnPong: func(s string) { got <- s }})
	if err := c.Conn().WriteControl(9, []byte("hello"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "hello" {
			t.Errorf("pong %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
}

// clientFrame is one masked client frame; rsv sets the reserved bits.
func clientFrame(fin bool, op byte, payload []byte, rsv byte) []byte {
	b0 := op | rsv<<4
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	default:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

func TestGatewayClosesOnProtocolErrors(t *testing.T) {
	closeBody := func(code uint16) []byte { return binary.BigEndian.AppendUint16(nil, code) }
	cases := []struct {
		name   string
		frames [][]byte
		want   int
	}{
		{"control frame over 125 bytes", [][]byte{clientFrame(true, 0x9, make([]byte, 126), 0)}, gateway.CloseProtocolError},
		{"fragmented control frame", [][]byte{clientFrame(false, 0x9, []byte("a"), 0)}, gateway.CloseProtocolError},
		{"reserved bit", [][]byte{clientFrame(true, 0x1, []byte("{}"), 4)}, gateway.CloseProtocolError},
		{"reserved opcode", [][]byte{clientFrame(true, 0x3, []byte("{}"), 0)}, gateway.CloseProtocolError},
		{"continuation with nothing to continue", [][]byte{clientFrame(true, 0x0, []byte("{}"), 0)}, gateway.CloseProtocolError},
		{"new message inside a fragmented one", [][]byte{clientFrame(false, 0x1, []byte("{"), 0), clientFrame(true, 0x1, []byte("}"), 0)}, gateway.CloseProtocolError},
		{"one-byte close payload", [][]byte{clientFrame(true, 0x8, []byte{3}, 0)}, gateway.CloseProtocolError},
		{"close code that may not be sent", [][]byte{clientFrame(true, 0x8, closeBody(1005), 0)}, gateway.CloseProtocolError},
		{"text that is not UTF-8", [][]byte{clientFrame(true, 0x1, []byte{'"', 0xff, 0xfe, '"'}, 0)}, gateway.CloseInvalidPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			_, base := start(t, rec, gateway.Options{})
			nc, br := rawDial(t, base)
			for _, f := range tc.frames {
				_, _ = nc.Write(f)
			}
			code := readClose(t, br)
			if code != tc.want {
				t.Errorf("close code %d, want %d", code, tc.want)
			}
			_, _ = nc.Write(clientFrame(true, 0x8, closeBody(uint16(code)), 0)) // complete the handshake
			calls := rec.waitCalls(t, "$disconnect", hasRoute("$disconnect", 1))
			if code := byRoute(calls, "$disconnect")[0].req.RequestContext.DisconnectStatusCode; code != int64(tc.want) {
				t.Errorf("$disconnect code %d, want %d", code, tc.want)
			}
			if n := len(calls); n != 2 {
				t.Errorf("%d calls, want $connect and $disconnect only", n)
			}
		})
	}
}

// A message may be split anywhere, even inside a UTF-8 character, with a
// ping between its fragments; a client's close is echoed and reported.
func TestGatewayFragmentsPingAndCloseHandshake(t *testing.T) {
	rec := newRecorder()
	_, base := start(t, rec, gateway.Options{})
	nc, br := rawDial(t, base)
	msg := []byte(`{"action":"ping","id":"é"}`)
	cut := strings.IndexByte(string(msg), 0xc3) + 1 // between the two bytes of é
	_, _ = nc.Write(clientFrame(false, 0x1, msg[:cut], 0))
	_, _ = nc.Write(clientFrame(true, 0x9, []byte("hi"), 0))
	_, _ = nc.Write(clientFrame(true, 0x0, msg[cut:], 0))
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil || h[0] != 0x8A || h[1] != 2 {
		t.Fatalf("want a pong of 2 bytes, got %x (%v)", h, err)
	}
	_, _ = br.Discard(2)
	calls := rec.waitCalls(t, "the message", hasRoute("ping", 1))
	if body := byRoute(calls, "ping")[0].req.Body; body != string(msg) {
		t.Errorf("body %q", body)
	}

	_, _ = nc.Write(clientFrame(true, 0x8, append(binary.BigEndian.AppendUint16(nil, 1000), "bye"...), 0))
	if code := readClose(t, br); code != 1000 {
		t.Errorf("echoed close code %d", code)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the close handshake the server should close TCP; read: %v", err)
	}
	calls = rec.waitCalls(t, "$disconnect", hasRoute("$disconnect", 1))
	d := byRoute(calls, "$disconnect")[0].req.RequestContext
	if d.DisconnectStatusCode != 1000 || *d.DisconnectReason != "bye" {
		t.Errorf("$disconnect %d %q", d.DisconnectStatusCode, *d.DisconnectReason)
	}
}
