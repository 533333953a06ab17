package main_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veet-dev/veet/localstack/wsclient"
)

var runningLine = regexp.MustCompile(`^veet is running: open (http://127\.0\.0\.1:[0-9]+/)$`)

// TestVeetLocalRunsAndStops builds the binary, starts it on a free port with
// the embedded Redis, and checks what `make run` and the SPA's browser tests
// rely on: one stdout line with the real URL, a working API behind it, and a
// clean exit on SIGTERM.
func TestVeetLocalRunsAndStops(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "veet-local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-nodes", "1", "-redis", "", "-drain", "1s")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url string
	select {
	case l := <-lines:
		m := runningLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("first stdout line %q", l)
		}
		url = m[1]
	case <-time.After(30 * time.Second):
		t.Fatalf("no URL line within 30s; stderr:\n%s", stderr.String())
	}

	resp, err := http.Get(url + "config.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `"wsUrl":"ws://` + strings.TrimPrefix(url, "http://") + `ws"`; !strings.Contains(string(body), want) {
		t.Errorf("config.json %s, want %s", body, want)
	}
	c := wsclient.Dial(t, "ws://"+strings.TrimPrefix(url, "http://")+"ws", wsclient.Options{})
	if e := c.WaitReply(t, c.MustSend(t, "create", nil)); e.Type != "created" {
		t.Errorf("create: %s", e)
	}

	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after SIGTERM")
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	if code := c.WaitClosed(t); code != 1001 {
		t.Errorf("socket closed with %d at shutdown, want 1001", code)
	}
	for l := range lines {
		t.Errorf("more stdout: %q", l)
	}
	if strings.Contains(stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", stderr.String())
	}
}
