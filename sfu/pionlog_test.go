package sfu

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestPionErrorsAreWarningsButClosedConnectionsAreNot(t *testing.T) {
	var buf bytes.Buffer
	l := pionLogs{slog.New(slog.NewTextHandler(&buf, nil))}.NewLogger("udpmux")
	l.Errorf("Failed to write packet: %v", io.ErrClosedPipe)
	l.Errorf("Failed to write packet: %v", "write udp 127.0.0.1:1: use of closed network connection")
	l.Warnf("Failed to ping: %s", "nope")
	if buf.Len() != 0 {
		t.Fatalf("teardown noise logged: %s", buf.String())
	}
	l.Errorf("Failed to handle DTLS: %v", "bad record")
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "pion=udpmux") || !strings.Contains(out, "bad record") {
		t.Fatalf("a real pion error was logged as %q", out)
	}
}
