package localstack

import (
	"encoding/json"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// routes is one region's HTTP port: its gateway's WebSocket and
// @connections, /config.json, and the SPA for everything else.
func (s *Stack) routes(reg *region, spaDir string) http.Handler {
	spa := spaHandler(spaDir)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/ws" || strings.Contains(p, "/@connections/"):
			reg.gw.ServeHTTP(w, r)
		case p == "/config.json":
			s.serveConfig(w, r)
		default:
			spa.ServeHTTP(w, r)
		}
	})
}

// runtimeConfig is /config.json, as the global stack writes it on AWS: the
// WebSocket API to connect to, and every region's own (a client joins a
// meeting through the region it lives in).
type runtimeConfig struct {
	WSURL   string          `json:"wsUrl"`
	Regions []regionAddress `json:"regions,omitempty"`
}

type regionAddress struct {
	Region string `json:"region"`
	WSURL  string `json:"wsUrl"`
}

// serveConfig tells the SPA where the WebSocket API is. This region's host
// comes from the request, so the page works whatever address it was opened
// with (a proxy, a name); the other regions are where they listen.
func (s *Stack) serveConfig(w http.ResponseWriter, r *http.Request) {
	scheme := "ws"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "wss"
	}
	own := scheme + "://" + r.Host + "/ws"
	cfg := runtimeConfig{WSURL: own}
	if len(s.regions) > 1 {
		for _, reg := range s.regions {
			addr := wsURL(reg.url)
			if strings.HasSuffix(reg.url, "//"+r.Host) {
				addr = own
			}
			cfg.Regions = append(cfg.Regions, regionAddress{Region: reg.name, WSURL: addr})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(cfg)
}

// spaHandler serves the SPA build. A path that is not a file gets
// index.html so that client-side routes (/abc-defg-hij) load the app; a
// missing asset (a path with an extension) stays a 404 so a broken build
// shows up as one.
func spaHandler(dir string) http.Handler {
	if dir == "" {
		return http.HandlerFunc(noSPA)
	}
	if st, err := os.Stat(filepath.Join(dir, "index.html")); err != nil || st.IsDir() {
		return http.HandlerFunc(noSPA)
	}
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		clean := path.Clean("/" + r.URL.Path)
		if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(clean))); err == nil && !st.IsDir() {
			files.ServeHTTP(w, r)
			return
		}
		if path.Ext(clean) != "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFile(w, r, filepath.Join(dir, "index.html"))
	})
}

func noSPA(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`<!doctype html><title>veet</title><p>The web app is not built. ` +
		`Run <code>make spa</code> (or <code>cd spa &amp;&amp; npm run build</code>) and start veet-local with <code>-spa spa/dist</code>. ` +
		`The WebSocket API is at <code>/ws</code>.</p>`))
}
