package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// serveConnections is the @connections management API:
//
//	POST   /@connections/{id}  body → one text message to the socket (200)
//	GET    /@connections/{id}  {"connectedAt","lastActiveAt","identity":{"sourceIp","userAgent"}}
//	DELETE /@connections/{id}  closes the socket (204); $disconnect follows
//
// An unknown or closed connection is 410 with the error type header and
// JSON body the AWS SDK turns into *types.GoneException.
func (g *Gateway) serveConnections(w http.ResponseWriter, r *http.Request, id string) {
	reqID := newID()
	w.Header().Set("X-Amzn-RequestId", reqID)
	if id == "" || strings.Contains(id, "/") {
		apiError(w, http.StatusNotFound, "NotFoundException", "No connection id in the path")
		return
	}
	switch r.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		w.Header().Set("Allow", "POST, GET, DELETE")
		apiError(w, http.StatusMethodNotAllowed, "MethodNotAllowedException", "Use POST, GET or DELETE")
		return
	}
	c := g.lookup(id)
	if c == nil || c.isClosing() {
		apiError(w, http.StatusGone, "GoneException", "")
		return
	}
	switch r.Method {
	case http.MethodPost:
		data, err := io.ReadAll(io.LimitReader(r.Body, int64(g.opt.MaxMessage)+1))
		if err != nil {
			apiError(w, http.StatusBadRequest, "BadRequestException", "cannot read the body")
			return
		}
		if len(data) > g.opt.MaxMessage {
			apiError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Message is larger than 128 KB")
			return
		}
		if err := c.send(data); err != nil {
			apiError(w, http.StatusGone, "GoneException", "")
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(connectionInfo{
			ConnectedAt:  c.connectedAt.UTC().Format(time.RFC3339Nano),
			LastActiveAt: c.lastActiveAt().UTC().Format(time.RFC3339Nano),
			Identity:     identity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
		})
	case http.MethodDelete:
		c.closeWith(CloseNormal, "")
		w.WriteHeader(http.StatusNoContent)
	}
}

type connectionInfo struct {
	ConnectedAt  string   `json:"connectedAt"`
	LastActiveAt string   `json:"lastActiveAt"`
	Identity     identity `json:"identity"`
}

type identity struct {
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// apiError writes an error the way API Gateway's management API does: the
// type in X-Amzn-ErrorType (what the SDK matches on) and a JSON message.
func apiError(w http.ResponseWriter, status int, errType, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", errType)
	w.WriteHeader(status)
	var msg *string
	if message != "" {
		msg = &message
	}
	_ = json.NewEncoder(w).Encode(struct {
		Message *string `json:"message"`
	}{msg})
}
