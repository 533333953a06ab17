package localstack_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veet-dev/veet/localstack"
)

// TestStackServesConfigAndSPA: /config.json points at the WebSocket API of
// whatever host the page was opened with; the SPA's files are served, deep
// links get index.html, a missing asset is a 404.
func TestStackServesConfigAndSPA(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><title>veet app</title>"), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "assets"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "assets", "app.js"), []byte("console.log('veet')"), 0o644))
	s := startStack(t, localstack.Options{SPADir: dir, EmbeddedRedis: true})

	req, _ := http.NewRequest("GET", s.URL()+"/config.json", nil)
	req.Host = "meet.example.test:8443"
	status, body := get(t, req)
	var cfg struct{ WsURL string }
	if err := json.Unmarshal([]byte(body), &cfg); status != 200 || err != nil || cfg.WsURL != "ws://meet.example.test:8443/ws" {
		t.Errorf("config.json: %d %q", status, body)
	}
	for path, want := range map[string]string{
		"/":               "veet app",
		"/abc-defg-hij":   "veet app",
		"/assets/app.js":  "console.log",
		"/assets/nope.js": "404",
	} {
		req, _ := http.NewRequest("GET", s.URL()+path, nil)
		status, body := get(t, req)
		if !strings.Contains(body, want) && !(want == "404" && status == 404) {
			t.Errorf("GET %s: %d %q, want %q", path, status, body, want)
		}
	}
}

func get(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
