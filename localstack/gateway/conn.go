package gateway

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// writeTimeout bounds one write to a client; a client that does not read for
// this long is treated as gone.
const writeTimeout = 10 * time.Second

// closeGrace is how long a server-initiated close waits for the client's
// close frame before dropping the TCP connection.
const closeGrace = 2 * time.Second

type message struct {
	opcode byte
	data   []byte
	at     time.Time // when it was read: API Gateway's requestTimeEpoch
}

// conn is one WebSocket connection.
type conn struct {
	g           *Gateway
	id          string
	nc          net.Conn
	br          *bufio.Reader
	connectedAt time.Time
	domain      string
	sourceIP    string
	userAgent   string

	lastActive atomic.Int64               // Unix ns of the last data message, either way
	idle       atomic.Pointer[time.Timer] // checkIdle's one timer, re-armed; stopped when the reader ends
	msgs       chan message
	queued     atomic.Int64 // bytes in msgs
	dropped    int          // messages dropped on a full queue (reader only)
	throttled  time.Time    // when the client was last told so (reader only)

	// Posts are queued for the writer goroutine rather than written by the
	// poster, so a client that does not read holds up no one: not the Lambda
	// or SFU posting to it (API Gateway answers a post without waiting for
	// the client), nor, through them, the rest of its room.
	out        chan []byte   // whole frames of posted messages, in order
	closeFrame []byte        // written after out is drained; set before out is closed
	sendMu     sync.Mutex    // orders enqueueing against closing out
	writerDone chan struct{} // closed when writeLoop returns

	wmu sync.Mutex // one writer at a time on nc (writeLoop and pongs)

	closeOnce   sync.Once
	closing     chan struct{} // closed with out, under sendMu
	closeCode   int
	closeReason string
}

// serveWebSocket checks the handshake, asks $connect, and only then
// completes the upgrade, as API Gateway does.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	key, err := handshakeKey(r)
	if err != nil {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !g.begin() {
		http.Error(w, "gateway is shutting down", http.StatusServiceUnavailable)
		return
	}
	defer g.wg.Done()
	c := &conn{
		g: g, id: newID(), connectedAt: time.Now(), domain: r.Host,
		sourceIP: sourceIP(r), userAgent: r.UserAgent(),
		msgs: make(chan message, g.opt.MessageQueue), closing: make(chan struct{}),
		out: make(chan []byte, g.opt.SendQueue), writerDone: make(chan struct{}),
	}
	req := c.connectRequest(r)
	resp, _, err := g.invoke("$connect", req)
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK // a $connect returning nothing accepts
	}
	if err != nil {
		status = http.StatusInternalServerError
		resp.Body = `{"message": "Internal server error"}`
	}
	if status < 200 || status > 299 {
		g.log.Debug("connection refused by $connect", "connection", c.id, "status", status)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-RequestId", req.RequestContext.RequestID)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, resp.Body)
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		g.log.Error("hijack failed", "err", err)
		http.Error(w, "cannot upgrade", http.StatusInternalServerError)
		return
	}
	c.nc, c.br = nc, brw.Reader
	hdr := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
	// $connect chooses the subprotocol (API Gateway passes this header of its
	// response through); a browser that offered some fails without it.
	if p := responseHeader(resp, "Sec-WebSocket-Protocol"); p != "" {
		hdr += "Sec-WebSocket-Protocol: " + p + "\r\n"
	}
	// Reachable through @connections before the client hears of the
	// upgrade, so a client that connected is one Close finds. Posts wait in
	// the queue until the writer starts after the handshake.
	registered := g.register(c)
	_ = nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err = io.WriteString(nc, hdr+"\r\n")
	go c.writeLoop()
	if err != nil {
		c.finish(nil)
		return
	}
	if !registered {
		// Close began while $connect ran: refuse politely, still disconnect.
		c.closeWith(CloseGoingAway, "Going away")
		c.drainAfterClose()
		c.finish(nil)
		return
	}
	c.touch()
	g.log.Debug("connected", "connection", c.id, "sourceIp", c.sourceIP)
	workerDone := make(chan struct{})
	go c.work(workerDone)
	c.idle.Store(time.AfterFunc(g.opt.IdleTimeout, c.checkIdle))
	limit := time.AfterFunc(g.opt.MaxDuration, func() { c.closeWith(CloseGoingAway, "Going away") })
	c.read()
	c.idle.Load().Stop()
	limit.Stop()
	c.finish(workerDone)
}

// finish runs once the reader is done: no one can post any more, what was
// posted before the close (and the close frame) is flushed for a moment, the
// messages already read are handled, then $disconnect.
func (c *conn) finish(workerDone chan struct{}) {
	c.closeOnce.Do(func() { // the socket failed before any close began
		c.closeCode = CloseAbnormal
		c.stopOutput(nil)
	})
	c.g.unregister(c)
	select {
	case <-c.writerDone:
	case <-time.After(closeGrace): // a client that does not read
	}
	_ = c.nc.Close()
	<-c.writerDone
	close(c.msgs)
	if workerDone != nil {
		<-workerDone
	}
	req := c.baseRequest("$disconnect", "DISCONNECT")
	req.RequestContext.DisconnectStatusCode = int64(c.closeCode)
	reason := c.closeReason
	req.RequestContext.DisconnectReason = &reason
	c.g.log.Debug("disconnected", "connection", c.id, "code", c.closeCode, "reason", reason)
	_, _, _ = c.g.invoke("$disconnect", req)
}

// read is the connection's reader: frames in, whole messages out to the
// worker, until the socket closes for any reason.
func (c *conn) read() {
	var (
		buf       []byte
		op        byte // opcode of the message being assembled; 0 = none
		oversized string
	)
	for {
		h, err := readHeader(c.br)
		if err != nil {
			c.readFailed(err)
			return
		}
		if h.opcode >= opClose {
			p, err := readPayload(c.br, h, nil)
			if err != nil {
				c.readFailed(err)
				return
			}
			if !c.control(h.opcode, p) {
				return
			}
			continue
		}
		if (h.opcode == opContinuation) != (op != 0) {
			c.closeWith(CloseProtocolError, "unexpected continuation or missing one")
			c.drainAfterClose()
			return
		}
		if op == 0 {
			op, buf, oversized = h.opcode, buf[:0], ""
		}
		switch {
		case oversized != "":
			err = discard(c.br, h.length)
		case h.length > uint64(c.g.opt.MaxFrame):
			oversized = "frame_too_large"
			err = discard(c.br, h.length)
		case uint64(len(buf))+h.length > uint64(c.g.opt.MaxMessage):
			oversized = "message_too_large"
			buf = nil // give the memory back now
			err = discard(c.br, h.length)
		default:
			buf, err = readPayload(c.br, h, buf)
		}
		if err != nil {
			c.readFailed(err)
			return
		}
		if !h.fin {
			continue
		}
		c.touch()
		msgOp := op
		op = 0
		if oversized != "" {
			c.refuseOversized(oversized)
			continue
		}
		if msgOp == opText && !utf8.Valid(buf) {
			c.closeWith(CloseInvalidPayload, "text message is not UTF-8")
			c.drainAfterClose()
			return
		}
		if c.isClosing() {
			c.drainAfterClose()
			return
		}
		c.queue(message{opcode: msgOp, data: append([]byte(nil), buf...), at: time.Now()})
	}
}

// queue hands a message to the worker without waiting: the reader keeps
// reading as fast as the client sends, as API Gateway does, so what the
// handlers see (and rate-limit) is the client's pace, not theirs. A queue
// full by count or bytes drops the message; the client gets API Gateway's
// throttling answer, at most once a second.
func (c *conn) queue(m message) {
	n := int64(len(m.data))
	if c.queued.Add(n) <= int64(c.g.opt.MessageQueueBytes) {
		c.g.backlog.Add(1)
		select {
		case c.msgs <- m:
			return
		default:
			c.g.backlog.Add(-1)
		}
	}
	c.queued.Add(-n)
	if c.dropped++; c.dropped == 1 {
		c.g.log.Warn("connection's queue is full; dropping its messages", "connection", c.id,
			"queue", c.g.opt.MessageQueue, "bytes", c.g.opt.MessageQueueBytes)
	}
	if time.Since(c.throttled) >= time.Second {
		c.throttled = time.Now()
		_ = c.send(gatewayError(c.id, newID(), "rate_limited", "Too Many Requests"))
	}
}

// control handles ping, pong and close; false means the connection is done.
func (c *conn) control(op byte, p []byte) bool {
	switch op {
	case opPing:
		if !c.isClosing() { // nothing may follow our close frame
			_ = c.write(appendFrame(nil, true, opPong, p))
		}
	case opClose:
		code, reason, err := parseClose(p)
		if err != nil {
			c.closeWith(CloseProtocolError, err.Error())
			return false
		}
		// The client closed first: its code is what $disconnect reports,
		// and the RFC asks us to echo it.
		c.closeOnce.Do(func() {
			c.closeCode, c.closeReason = code, reason
			c.stopOutput(appendFrame(nil, true, opClose, closePayload(code, "")))
			c.g.unregister(c)
		})
		return false
	}
	return true
}

// readFailed ends the connection after a read error: a protocol error is
// answered with 1002, anything else (EOF, reset, our own close deadline) is
// an abnormal closure unless a close was already under way.
func (c *conn) readFailed(err error) {
	if errors.Is(err, errProtocol) {
		c.closeWith(CloseProtocolError, err.Error())
		return
	}
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason = CloseAbnormal, ""
		c.stopOutput(nil)
		c.g.unregister(c)
	})
}

// drainAfterClose reads until the client's close frame or the grace period
// ends, so the close handshake completes cleanly.
func (c *conn) drainAfterClose() {
	for {
		h, err := readHeader(c.br)
		if err != nil {
			return
		}
		if h.opcode == opClose {
			return
		}
		if discard(c.br, h.length) != nil {
			return
		}
	}
}

// closeWith starts a server-side close: the close frame goes out, posts get
// 410 from now on, and the reader stops after the client's answer or the
// grace period. The first close wins; $disconnect reports its code.
func (c *conn) closeWith(code int, reason string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason = code, reason
		c.stopOutput(appendFrame(nil, true, opClose, closePayload(code, reason)))
		c.g.unregister(c)
		_ = c.nc.SetReadDeadline(time.Now().Add(closeGrace))
	})
}

// stopOutput refuses further posts and lets the writer end with closeFrame
// (nil: none) after the messages already queued. Called once, in closeOnce.
func (c *conn) stopOutput(closeFrame []byte) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	close(c.closing)
	c.closeFrame = closeFrame
	close(c.out)
}

func (c *conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// write sends whole frames; a failed or slow write drops the connection.
func (c *conn) write(frames []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(frames)
}

func (c *conn) writeLocked(frames []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.nc.Write(frames); err != nil {
		_ = c.nc.Close()
		return err
	}
	return nil
}

// errNotReading: the client let its send queue fill up.
var errNotReading = errors.New("client is not reading")

// send queues one data message, split into frames as API Gateway does. A
// closing connection takes no more, so no data frame follows the close
// frame. A client whose queue is full is closed (1008): it stopped reading.
func (c *conn) send(data []byte) error {
	frames := appendMessage(nil, opText, data, c.g.opt.MaxFrame)
	err := c.enqueue(frames)
	if errors.Is(err, errNotReading) {
		c.g.log.Warn("closing a connection that does not read", "connection", c.id, "queued", c.g.opt.SendQueue)
		c.closeWith(ClosePolicyViolation, "Client is not reading")
	}
	return err
}

func (c *conn) enqueue(frames []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.isClosing() {
		return net.ErrClosed
	}
	select {
	case c.out <- frames:
		c.touch()
		return nil
	default:
		return errNotReading
	}
}

// writeLoop writes the queued messages, then the close frame if any. After
// a failed write (which closes the socket, so the reader ends too) the rest
// is dropped.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	for frames := range c.out {
		if c.write(frames) != nil {
			for range c.out {
			}
			return
		}
	}
	if c.closeFrame != nil {
		_ = c.write(c.closeFrame)
	}
}

func (c *conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

func (c *conn) lastActiveAt() time.Time { return time.Unix(0, c.lastActive.Load()) }

// checkIdle closes a connection that moved no data message, either way, for
// IdleTimeout, or re-arms itself. WebSocket ping frames do not count: API
// Gateway's quota speaks of messages, and clients that want to stay connected
// send the protocol's ping action, which also refreshes Redis TTLs.
func (c *conn) checkIdle() {
	if c.isClosing() {
		return
	}
	idle := time.Since(c.lastActiveAt())
	if idle >= c.g.opt.IdleTimeout {
		c.closeWith(CloseGoingAway, "Going away")
		return
	}
	if t := c.idle.Load(); t != nil {
		t.Reset(c.g.opt.IdleTimeout - idle)
	}
}

// refuseOversized tells the client its message was dropped.
func (c *conn) refuseOversized(code string) {
	reqID := newID()
	msg := fmt.Sprintf("message dropped: frames are limited to %d bytes and messages to %d bytes",
		c.g.opt.MaxFrame, c.g.opt.MaxMessage)
	c.g.log.Warn("oversized message dropped", "connection", c.id, "code", code, "requestId", reqID)
	b, _ := json.Marshal(struct {
		Type      string `json:"type"`
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId"`
	}{"error", code, msg, reqID})
	_ = c.send(b)
	if c.g.opt.CloseOnOversize {
		c.closeWith(CloseMessageTooBig, "Message too big")
	}
}

// work invokes the route of each message, one at a time, in order. Once the
// socket is closing, by either side, the messages still queued are dropped:
// work from a closed socket is never done (a flood's backlog would keep the
// stack busy long after the flooder is gone).
func (c *conn) work(done chan struct{}) {
	defer close(done)
	dropped := 0
	for m := range c.msgs {
		if c.isClosing() {
			dropped++
		} else {
			c.route(m)
		}
		c.queued.Add(-int64(len(m.data)))
		c.g.backlog.Add(-1)
	}
	if dropped > 0 {
		c.g.log.Info("dropped the messages of a closed connection", "connection", c.id, "dropped", dropped)
	}
}

func (c *conn) route(m message) {
	routeKey := "$default"
	req := c.baseRequest("", "MESSAGE")
	req.RequestContext.MessageID = newID()
	req.RequestContext.RequestTime = m.at.UTC().Format(requestTimeLayout)
	req.RequestContext.RequestTimeEpoch = m.at.UnixMilli()
	if m.opcode == opBinary {
		req.Body = base64.StdEncoding.EncodeToString(m.data)
		req.IsBase64Encoded = true
	} else {
		req.Body = string(m.data)
		routeKey = c.selectRoute(m.data)
	}
	req.RequestContext.RouteKey = routeKey
	_, found, err := c.g.invoke(routeKey, req)
	switch {
	case !found:
		_ = c.send(gatewayError(c.id, req.RequestContext.RequestID, "forbidden", "Forbidden"))
	case err != nil:
		_ = c.send(gatewayError(c.id, req.RequestContext.RequestID, "internal", "Internal server error"))
	}
}

// selectRoute evaluates $request.body.action: the route whose key equals the
// action, else $default (also for non-JSON and reserved $ keys). See route.go
// for how the action is read.
func (c *conn) selectRoute(body []byte) string {
	a, ok := bodyAction(body)
	if !ok || a == "" || a[0] == '$' || c.g.opt.FunctionFor(a) == c.g.opt.FunctionFor("$default") {
		return "$default"
	}
	return a
}
