package gateway_test

import (
	"strings"
	"testing"

	"github.com/veet-dev/veet/localstack/gateway"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// bigMessage is a valid protocol message of n bytes.
func bigMessage(action string, n int) []byte {
	head := `{"action":"` + action + `","id":"big","pad":"`
	return []byte(head + strings.Repeat("x", n-len(head)-2) + `"}`)
}

func TestGatewayFrameAndMessageLimits(t *testing.T) {
	rec := newRecorder()
	g, base := start(t, rec, gateway.Options{})
	// 64 KiB frames: a 40 KB message is one 40 KB frame, as a browser sends it.
	oneFrame := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	// 16 KiB frames: a 200 KB message arrives fragmented, every frame legal.
	fragmented := wsclient.Dial(t, wsURL(base), wsclient.Options{WriteBufferSize: 16 * 1024})
	rec.waitCalls(t, "2 $connect", hasRoute("$connect", 2))

	if err := oneFrame.SendRaw(bigMessage("ping", 40*1024)); err != nil {
		t.Fatal(err)
	}
	e := oneFrame.WaitFor(t, "error")
	if e.Code != "frame_too_large" || e.RequestID == "" || e.Message == "" {
		t.Errorf("40 KB frame: %s", e)
	}
	if err := fragmented.SendRaw(bigMessage("ping", 200*1024)); err != nil {
		t.Fatal(err)
	}
	e = fragmented.WaitFor(t, "error")
	if e.Code != "message_too_large" || e.RequestID == "" {
		t.Errorf("200 KB message: %s", e)
	}

	// Exactly at the limits passes: a 32 KiB frame, a 128 KiB message.
	if err := oneFrame.SendRaw(bigMessage("join", gateway.MaxFrame)); err != nil {
		t.Fatal(err)
	}
	if err := fragmented.SendRaw(bigMessage("admit", gateway.MaxMessage)); err != nil {
		t.Fatal(err)
	}
	calls := rec.waitCalls(t, "the two messages at the limit", func(c []call) bool {
		return len(byRoute(c, "join")) == 1 && len(byRoute(c, "admit")) == 1
	})
	if n := len(byRoute(calls, "admit")[0].req.Body); n != gateway.MaxMessage {
		t.Errorf("128 KiB message arrived with %d bytes", n)
	}
	if n := len(byRoute(calls, "ping")); n != 0 {
		t.Errorf("%d oversized messages reached a handler", n)
	}
	// Both sockets stayed open.
	if g.Connections() != 2 {
		t.Errorf("%d connections open, want 2", g.Connections())
	}
}

func TestGatewayCloseOnOversizeLikeAPIGateway(t *testing.T) {
	rec := newRecorder()
	_, base := start(t, rec, gateway.Options{CloseOnOversize: true})
	c := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	if err := c.SendRaw(bigMessage("ping", 40*1024)); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, "error")
	if code := c.WaitClosed(t); code != gateway.CloseMessageTooBig {
		t.Errorf("close code %d, want 1009", code)
	}
	calls := rec.waitCalls(t, "$disconnect", hasRoute("$disconnect", 1))
	if code := byRoute(calls, "$disconnect")[0].req.RequestContext.DisconnectStatusCode; code != 1009 {
		t.Errorf("$disconnect code %d", code)
	}
}

func TestGatewayBinaryMessageIsBase64OnDefault(t *testing.T) {
	rec := newRecorder()
	_, base := start(t, rec, gateway.Options{})
	c := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	if err := c.Conn().WriteMessage(2, []byte{0, 1, 2, 255}); err != nil {
		t.Fatal(err)
	}
	calls := rec.waitCalls(t, "binary message", hasRoute("$default", 1))
	m := byRoute(calls, "$default")[0].req
	if !m.IsBase64Encoded || m.Body != "AAEC/w==" {
		t.Errorf("binary message: base64 %v body %q", m.IsBase64Encoded, m.Body)
	}
}
