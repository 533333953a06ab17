package sfu

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/sfu/forward"
	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

// newSubscriber returns a subscribe PeerConnection and the send side of
// the packet path that goes with it.
//
// Once its DTLS handshake is done over a UDP candidate pair with an AES-GCM
// SRTP profile, the node encrypts and sends the connection's media itself:
// batched with the rest of each fan-out onto the UDP mux's socket, to the
// pair's remote address; and the subscriber's RTCP from that address is
// read off the socket by the intake, not by pion. pion does not hand out SRTP keys, so each
// connection gets its own API whose DTLS key log and ServerHello hook feed
// a srtpgcm.Capture (in memory only) — the node offers, browsers answer
// with setup:active, so the node is the DTLS server. Anything else (ICE-TCP,
// another SRTP profile, a client that makes the node the DTLS client) keeps
// pion's own send path, which works everywhere at a higher cost per copy.
func (m *media) newSubscriber() (*webrtc.PeerConnection, *forward.Transport, error) {
	keys := &srtpgcm.Capture{}
	se := m.settings
	se.SetDTLSKeyLogWriter(keys)
	se.SetDTLSServerHelloMessageHook(keys.ServerHello)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m.subEngine), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	// Header encryption (cryptex) would hide the header the batched path
	// writes in the clear.
	pc, err := api.NewPeerConnection(webrtc.Configuration{RTPHeaderEncryptionPolicy: webrtc.RTPHeaderEncryptionPolicyDisable})
	if err != nil {
		return nil, nil, err
	}
	tr := forward.NewTransport(pc.WriteRTCP)
	watchSecure(pc, func(iceT *webrtc.ICETransport) {
		p, why := m.path(keys, iceT)
		tr.SetPath(p)
		if p != nil && tr.ReadsRTCP() {
			m.intake.subscribers.set(p.Addr.AddrPort(), tr)
		} else {
			m.intake.subscribers.forget(tr)
		}
		if p != nil {
			m.log.Debug("subscriber media on the batched path", "remote", p.Addr.String(), "profile", p.Keys.Profile.String())
		} else {
			m.log.Debug("subscriber media on pion's send path", "reason", why)
		}
	}, func() {
		tr.Close()
		m.intake.subscribers.forget(tr)
	})
	return pc, tr, nil
}

// path is the batched path of a connected subscriber, or nil and why not.
func (m *media) path(keys *srtpgcm.Capture, t *webrtc.ICETransport) (*forward.Path, string) {
	k, err := keys.Keys()
	var rk srtpgcm.Keys // the subscriber's, to read its RTCP
	if err == nil {
		rk, err = keys.ClientKeys()
	}
	if err != nil {
		if errors.Is(err, srtpgcm.ErrProfile) {
			return nil, "SRTP profile is not AES-GCM"
		}
		return nil, err.Error()
	}
	addr, why := udpRemote(t)
	if !addr.IsValid() {
		return nil, why
	}
	return &forward.Path{Conn: m.batch, Addr: net.UDPAddrFromAddrPort(addr), Keys: k, RemoteKeys: rk}, ""
}

// watchSecure calls update once the connection's DTLS is up and again
// whenever its selected candidate pair changes, and closed once DTLS ends;
// one at a time, and off pion's locks (its handlers run with them held).
func watchSecure(pc *webrtc.PeerConnection, update func(*webrtc.ICETransport), closed func()) {
	dtls := pc.SCTP().Transport()
	iceT := dtls.ICETransport()
	var secure atomic.Bool
	var mu sync.Mutex
	var once sync.Once // closed
	run := func() {
		mu.Lock()
		defer mu.Unlock()
		if secure.Load() {
			update(iceT)
		}
	}
	dtls.OnStateChange(func(s webrtc.DTLSTransportState) {
		switch s {
		case webrtc.DTLSTransportStateConnected:
			secure.Store(true)
			go run()
		case webrtc.DTLSTransportStateClosed, webrtc.DTLSTransportStateFailed:
			secure.Store(false)
			go once.Do(func() {
				mu.Lock()
				defer mu.Unlock()
				closed()
			})
		}
	})
	iceT.OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) { go run() })
}

// udpRemote is the remote address of t's selected pair when the node can
// send to and read from it itself (UDP, IPv4), or an invalid one and why not.
func udpRemote(t *webrtc.ICETransport) (netip.AddrPort, string) {
	pair, err := t.GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil {
		return netip.AddrPort{}, "no selected candidate pair"
	}
	if pair.Remote.Protocol != webrtc.ICEProtocolUDP {
		return netip.AddrPort{}, "ICE over " + pair.Remote.Protocol.String()
	}
	// The node's socket is IPv4 (newMedia); a name (mDNS) is not resolved.
	ip, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil || !ip.Unmap().Is4() {
		return netip.AddrPort{}, "remote address " + pair.Remote.Address + " is not IPv4"
	}
	return netip.AddrPortFrom(ip.Unmap(), pair.Remote.Port), ""
}
