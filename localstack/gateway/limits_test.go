package gateway_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

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

// A client that stops reading holds up no one: posts to it return at once
// (API Gateway does not wait for the client either) until its send queue is
// full, then it is closed (1008) and posts get 410; others are served
// throughout.
func TestGatewaySlowReaderBlocksNoPoster(t *testing.T) {
	rec := newRecorder()
	_, base := start(t, rec, gateway.Options{SendQueue: 8})
	_, _ = rawDial(t, base) // never reads
	slowID := rec.waitCalls(t, "$connect", hasRoute("$connect", 1))[0].req.RequestContext.ConnectionID
	other := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	calls := rec.waitCalls(t, "2 $connect", hasRoute("$connect", 2))
	otherID := byRoute(calls, "$connect")[1].req.RequestContext.ConnectionID

	// A post that waited for the client would hit this timeout: the kernel
	// buffers some MB, the queue 8 messages, then the gateway gives up.
	hc := &http.Client{Timeout: 5 * time.Second}
	post := func(id string, body []byte) int {
		t.Helper()
		resp, err := hc.Post(base+"/@connections/"+id, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("post to %s: %v", id, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	big := bigMessage("x", 100*1024)
	gone := false
	for i := 0; i < 2000 && !gone; i++ {
		switch code := post(slowID, big); code {
		case http.StatusOK:
		case http.StatusGone:
			gone = true
		default:
			t.Fatalf("post %d to the slow client: %d", i, code)
		}
		if i%50 == 0 {
			if code := post(otherID, []byte(`{"type":"pong","id":"`+strconv.Itoa(i)+`"}`)); code != http.StatusOK {
				t.Fatalf("post to the reading client: %d", code)
			}
			other.WaitFor(t, "pong")
		}
	}
	if !gone {
		t.Fatal("2000 posts of 100 KB to a client that does not read were all accepted")
	}
	calls = rec.waitCalls(t, "the slow client's $disconnect", hasRoute("$disconnect", 1))
	if d := byRoute(calls, "$disconnect")[0].req.RequestContext; d.ConnectionID != slowID || d.DisconnectStatusCode != gateway.ClosePolicyViolation {
		t.Errorf("$disconnect of %s with %d, want %s with 1008", d.ConnectionID, d.DisconnectStatusCode, slowID)
	}
	if code := post(otherID, []byte(`{"type":"pong","id":"after"}`)); code != http.StatusOK {
		t.Errorf("post to the reading client after: %d", code)
	}
	if e := other.WaitFor(t, "pong"); e.ID != "after" {
		t.Errorf("reading client got %s", e)
	}
}
