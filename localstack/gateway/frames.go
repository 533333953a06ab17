package gateway

// A small server side of RFC 6455. The gateway frames WebSockets itself
// instead of using gorilla/websocket because API Gateway limits frames (32 KB)
// as well as messages (128 KB), and a library that hands over whole messages
// hides frame boundaries. What is implemented is what a browser or a Go client
// needs: the opening handshake, masked client frames, fragmentation, ping,
// pong and close, and unmasked server frames. No extensions are negotiated
// (API Gateway negotiates none either, so clients never compress).

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Close codes (RFC 6455 section 7.4.1).
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseNoStatus        = 1005 // reported, never sent: the peer's close had no code
	CloseAbnormal        = 1006 // reported, never sent: the TCP connection dropped
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseMessageTooBig   = 1009
)

// maxControlPayload is the RFC's limit for ping, pong and close payloads.
const maxControlPayload = 125

var errProtocol = errors.New("websocket protocol error")

// frameHeader is one frame's header as read from the client.
type frameHeader struct {
	fin    bool
	opcode byte
	masked bool
	length uint64
	mask   [4]byte
}

// readHeader reads a frame header. Reserved bits must be zero because no
// extension was negotiated.
func readHeader(r *bufio.Reader) (frameHeader, error) {
	var h frameHeader
	var b [8]byte
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return h, err
	}
	if b[0]&0x70 != 0 {
		return h, fmt.Errorf("%w: reserved bits set", errProtocol)
	}
	h.fin = b[0]&0x80 != 0
	h.opcode = b[0] & 0x0F
	h.masked = b[1]&0x80 != 0
	switch n := b[1] & 0x7F; n {
	case 126:
		if _, err := io.ReadFull(r, b[:2]); err != nil {
			return h, err
		}
		h.length = uint64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(r, b[:8]); err != nil {
			return h, err
		}
		h.length = binary.BigEndian.Uint64(b[:8])
		if h.length>>63 != 0 {
			return h, fmt.Errorf("%w: frame length has the top bit set", errProtocol)
		}
	default:
		h.length = uint64(n)
	}
	if h.masked {
		if _, err := io.ReadFull(r, h.mask[:]); err != nil {
			return h, err
		}
	}
	if !h.masked {
		return h, fmt.Errorf("%w: client frames must be masked", errProtocol)
	}
	if h.opcode >= opClose {
		if !h.fin || h.length > maxControlPayload {
			return h, fmt.Errorf("%w: control frames must be final and at most 125 bytes", errProtocol)
		}
	}
	switch h.opcode {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
	default:
		return h, fmt.Errorf("%w: unknown opcode %#x", errProtocol, h.opcode)
	}
	return h, nil
}

// readPayload appends the frame's unmasked payload to dst.
func readPayload(r *bufio.Reader, h frameHeader, dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, h.length)...)
	if _, err := io.ReadFull(r, dst[start:]); err != nil {
		return dst, err
	}
	unmask(dst[start:], h.mask)
	return dst, nil
}

func unmask(p []byte, key [4]byte) {
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// discard skips a frame's payload without keeping it, so an oversized frame
// costs no memory.
func discard(r *bufio.Reader, n uint64) error {
	_, err := io.CopyN(io.Discard, r, int64(n))
	return err
}

// appendFrame appends one unmasked server frame.
func appendFrame(dst []byte, fin bool, opcode byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, b0, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// appendMessage appends a data message split into frames of at most maxFrame
// bytes, as API Gateway splits what is posted to @connections.
func appendMessage(dst []byte, opcode byte, data []byte, maxFrame int) []byte {
	if len(data) <= maxFrame {
		return appendFrame(dst, true, opcode, data)
	}
	op := opcode
	for len(data) > 0 {
		n := min(len(data), maxFrame)
		dst = appendFrame(dst, n == len(data), op, data[:n])
		op = opContinuation
		data = data[n:]
	}
	return dst
}

// closePayload encodes a close frame's code and reason.
func closePayload(code int, reason string) []byte {
	if code == CloseNoStatus || code == CloseAbnormal || code == 0 {
		return nil
	}
	if len(reason) > maxControlPayload-2 {
		reason = reason[:maxControlPayload-2]
	}
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(p, reason...)
}

// parseClose decodes a client's close frame; a close with no code reports
// 1005 as RFC 6455 asks.
func parseClose(p []byte) (code int, reason string, err error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", fmt.Errorf("%w: one-byte close payload", errProtocol)
	}
	code = int(binary.BigEndian.Uint16(p))
	reason = string(p[2:])
	if !utf8.ValidString(reason) {
		return 0, "", fmt.Errorf("%w: close reason is not UTF-8", errProtocol)
	}
	if !validCloseCode(code) {
		return 0, "", fmt.Errorf("%w: close code %d may not be sent", errProtocol, code)
	}
	return code, reason, nil
}

func validCloseCode(c int) bool {
	switch {
	case c >= 3000 && c <= 4999:
		return true
	case c >= 1000 && c <= 1014:
		return c != 1004 && c != CloseNoStatus && c != CloseAbnormal
	}
	return false
}

// handshakeKey checks an opening handshake (RFC 6455 section 4.2.1) and
// returns the client's key; the error says what is wrong, for a 400.
func handshakeKey(r *http.Request) (string, error) {
	switch {
	case r.Method != http.MethodGet:
		return "", errors.New("websocket handshake must be a GET")
	case !headerHas(r.Header, "Connection", "upgrade"):
		return "", errors.New("missing Connection: Upgrade")
	case !headerHas(r.Header, "Upgrade", "websocket"):
		return "", errors.New("missing Upgrade: websocket")
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return "", errors.New("Sec-WebSocket-Version must be 13")
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", errors.New("bad Sec-WebSocket-Key")
	}
	return key, nil
}

// acceptKey is the Sec-WebSocket-Accept value for a client key.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// headerHas reports whether a comma-separated header lists token.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
