package srtpgcm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
)

// Capture learns the SRTP keys of one DTLS handshake in which this side is
// the server, through the two hooks pion offers: the key log (NSS format:
// "CLIENT_RANDOM <client random> <master secret>") and the ServerHello
// hook (the server random, the cipher suite, the SRTP profile). pion has no
// accessor for the keys it derives; these hooks are public API, and nothing
// captured is written anywhere.
//
// Use one Capture per connection: set Write as the key log writer and
// ServerHello as the ServerHello hook of that connection's settings. (A
// test client can feed ServerHello the message it received instead.)
type Capture struct {
	mu           sync.Mutex
	clientRandom []byte
	masterSecret []byte
	serverRandom []byte
	suite        uint16
	profile      Profile
	hello        bool
}

// Write takes key log lines.
func (c *Capture) Write(b []byte) (int, error) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[0]) != "CLIENT_RANDOM" {
			continue
		}
		cr, err1 := hex.DecodeString(string(f[1]))
		ms, err2 := hex.DecodeString(string(f[2]))
		if err1 != nil || err2 != nil {
			continue
		}
		c.mu.Lock()
		c.clientRandom, c.masterSecret = cr, ms
		c.mu.Unlock()
	}
	return len(b), nil
}

// ServerHello notes what the server chose and returns m unchanged.
func (c *Capture) ServerHello(m handshake.MessageServerHello) handshake.Message {
	r := m.Random.MarshalFixed()
	c.mu.Lock()
	c.serverRandom = r[:]
	c.hello = true
	if m.CipherSuiteID != nil {
		c.suite = *m.CipherSuiteID
	}
	c.profile = 0
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			c.profile = Profile(u.ProtectionProfiles[0])
		}
	}
	c.mu.Unlock()
	return &m
}

// Errors of Keys.
var (
	ErrNotServer  = errors.New("srtpgcm: no ServerHello was sent: this side is not the DTLS server")
	ErrNoKeyLog   = errors.New("srtpgcm: the handshake logged no master secret")
	ErrNoProfile  = errors.New("srtpgcm: the ServerHello chose no SRTP profile")
	errBadLogLine = errors.New("srtpgcm: key log line does not fit the hello")
)

// Keys returns the keys the server sends with, once the handshake is done.
func (c *Capture) Keys() (Keys, error) { return c.keys(true) }

// ClientKeys returns the keys the client sends with.
func (c *Capture) ClientKeys() (Keys, error) { return c.keys(false) }

func (c *Capture) keys(server bool) (Keys, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.hello:
		return Keys{}, ErrNotServer
	case c.masterSecret == nil:
		return Keys{}, ErrNoKeyLog
	case c.profile == 0:
		return Keys{}, ErrNoProfile
	case len(c.clientRandom) != 32 || len(c.serverRandom) != 32 || len(c.masterSecret) != 48:
		return Keys{}, errBadLogLine
	}
	// TLS 1.2's PRF is sha256 unless the suite names a stronger hash; of
	// pion's suites the two AES_256_GCM_SHA384 ones do.
	sha384 := c.suite == 0xc02c || c.suite == 0xc030
	return FromDTLS(c.profile, c.masterSecret, c.clientRandom, c.serverRandom, sha384, server)
}
