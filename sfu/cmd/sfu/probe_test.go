package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The ECS health check runs `sfu -healthcheck`: it must pass on a 200 from
// /healthz and fail on anything else, including nobody listening.
func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	if err := probe(port); err != nil {
		t.Fatalf("healthy node: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := probe(port); err == nil {
		t.Fatal("503 passed the health check")
	}
	srv.Close()
	if err := probe(port); err == nil {
		t.Fatal("a closed port passed the health check")
	}
}
