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
	if len(rec.calls) != 0 {
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
