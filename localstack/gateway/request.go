package gateway

import (
	"crypto/rand"
	"net"
	"net/http"
	"strings"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
)

// newID returns an id shaped like API Gateway's connection, request and
// message ids (16 characters, e.g. "L0SM9cOFvHcCIhw="). Only letters and
// digits before the padding, so an id is safe in a URL path as is.
func newID() string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [15]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, 16)
	for i, v := range b {
		out[i] = alnum[int(v)%len(alnum)]
	}
	out[15] = '='
	return string(out)
}

// requestTimeLayout is API Gateway's requestContext.requestTime format.
const requestTimeLayout = "02/Jan/2006:15:04:05 -0700"

// baseRequest fills what every event of a connection carries.
func (c *conn) baseRequest(routeKey, eventType string) awsevents.APIGatewayWebsocketProxyRequest {
	now := time.Now()
	id := newID()
	return awsevents.APIGatewayWebsocketProxyRequest{
		RequestContext: awsevents.APIGatewayWebsocketProxyRequestContext{
			RouteKey:          routeKey,
			EventType:         eventType,
			MessageDirection:  "IN",
			ConnectionID:      c.id,
			RequestID:         id,
			ExtendedRequestID: id,
			DomainName:        c.domain,
			Stage:             c.g.opt.Stage,
			APIID:             c.g.opt.APIID,
			ConnectedAt:       c.connectedAt.UnixMilli(),
			RequestTime:       now.UTC().Format(requestTimeLayout),
			RequestTimeEpoch:  now.UnixMilli(),
			Identity: awsevents.APIGatewayRequestIdentity{
				SourceIP:  c.sourceIP,
				UserAgent: c.userAgent,
			},
		},
		IsBase64Encoded: false,
	}
}

// connectRequest is $connect's event: the handshake's headers and query
// string, as API Gateway passes them (single- and multi-value forms).
func (c *conn) connectRequest(r *http.Request) awsevents.APIGatewayWebsocketProxyRequest {
	req := c.baseRequest("$connect", "CONNECT")
	req.RequestContext.MessageDirection = "IN"
	req.Headers = map[string]string{}
	req.MultiValueHeaders = map[string][]string{}
	set := func(k string, vs ...string) {
		req.Headers[k] = vs[len(vs)-1]
		req.MultiValueHeaders[k] = append([]string(nil), vs...)
	}
	for k, vs := range r.Header {
		if len(vs) > 0 {
			set(headerName(k), vs...)
		}
	}
	set("Host", r.Host)
	// API Gateway adds these for its integration.
	set("X-Forwarded-For", c.sourceIP)
	set("X-Forwarded-Proto", "http")
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		set("X-Forwarded-Port", port)
	}
	if q := r.URL.Query(); len(q) > 0 {
		req.QueryStringParameters = map[string]string{}
		req.MultiValueQueryStringParameters = map[string][]string{}
		for k, vs := range q {
			req.QueryStringParameters[k] = vs[len(vs)-1]
			req.MultiValueQueryStringParameters[k] = append([]string(nil), vs...)
		}
	}
	return req
}

// sourceIP is the client's address as API Gateway reports it (no port).
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return strings.Trim(host, "[]")
}

// headerName undoes Go's canonical form for the WebSocket headers, whose
// RFC (and browser, and API Gateway) spelling has a capital S in
// "WebSocket": a handler looking up "Sec-WebSocket-Protocol" finds it.
func headerName(k string) string {
	if rest, ok := strings.CutPrefix(k, "Sec-Websocket-"); ok {
		return "Sec-WebSocket-" + rest
	}
	return k
}

// responseHeader finds a header of a handler's response whatever its case.
func responseHeader(resp awsevents.APIGatewayProxyResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range resp.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return strings.Join(vs, ", ")
		}
	}
	return ""
}
