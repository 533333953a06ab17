package srtpgcm

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Sealing must produce exactly what pion's SRTP produces, which browsers
// and pion peers decrypt: same session keys, IV and tag, across rollovers.
func TestSealMatchesPionSRTP(t *testing.T) {
	for _, p := range []struct {
		ours Profile
		pion srtp.ProtectionProfile
	}{{AES128GCM, srtp.ProtectionProfileAeadAes128Gcm}, {AES256GCM, srtp.ProtectionProfileAeadAes256Gcm}} {
		key, salt := randBytes(t, p.ours.KeyLen()), randBytes(t, 12)
		s, err := NewSealer(Keys{Profile: p.ours, Key: key, Salt: salt})
		if err != nil {
			t.Fatal(err)
		}
		enc, err := srtp.CreateContext(key, salt, p.pion)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := srtp.CreateContext(key, salt, p.pion)
		if err != nil {
			t.Fatal(err)
		}
		payload := randBytes(t, 1100)
		// Through a rollover: pion's context counts it from the sequence.
		for i, seq := range []uint16{65533, 65534, 65535, 0, 1, 2} {
			roc := uint32(0)
			if i >= 3 {
				roc = 1
			}
			h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 9000 * uint32(i), SSRC: 0xcafe0001, Marker: i%2 == 0}
			if err := h.SetExtension(3, []byte{0x12, 0x34}); err != nil {
				t.Fatal(err)
			}
			hdr, err := h.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			plain := append(append([]byte(nil), hdr...), payload...)
			want, err := enc.EncryptRTP(nil, plain, &h)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, len(hdr), 1600)
			copy(buf, hdr)
			got := s.Seal(buf, hdr, payload, h.SSRC, roc, seq)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s seq %d roc %d: sealed packet differs from pion's", p.ours, seq, roc)
			}
			back, err := dec.DecryptRTP(nil, got, nil)
			if err != nil {
				t.Fatalf("%s seq %d: pion cannot decrypt: %v", p.ours, seq, err)
			}
			if !bytes.Equal(back, plain) {
				t.Fatalf("%s seq %d: decrypted packet differs", p.ours, seq)
			}
		}
	}
}

func TestSealAllocatesNothing(t *testing.T) {
	s, err := NewSealer(Keys{Profile: AES128GCM, Key: randBytes(t, 16), Salt: randBytes(t, 12)})
	if err != nil {
		t.Fatal(err)
	}
	hdr, payload := randBytes(t, 20), randBytes(t, 1100)
	buf := make([]byte, 0, 1600)
	if n := testing.AllocsPerRun(100, func() { s.Seal(append(buf[:0], hdr...), hdr, payload, 1, 0, 7) }); n != 0 {
		t.Fatalf("%.1f allocations per seal", n)
	}
}

func BenchmarkSeal1100(b *testing.B) {
	s, _ := NewSealer(Keys{Profile: AES128GCM, Key: randBytes(b, 16), Salt: randBytes(b, 12)})
	hdr, payload := randBytes(b, 20), randBytes(b, 1100)
	buf := make([]byte, 0, 1600)
	b.SetBytes(1100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Seal(append(buf[:0], hdr...), hdr, payload, 1, 0, uint16(i))
	}
}

// The keys a Capture derives from pion's hooks are the keys pion's own
// exporter gives the same handshake.
func TestCaptureDerivesTheKeysOfTheHandshake(t *testing.T) {
	for _, suite := range []dtls.CipherSuiteID{dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384} {
		for _, profile := range []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AEAD_AES_256_GCM} {
			var c Capture
			server, client := dtlsPair(t, suite, profile, &c)
			state, ok := server.ConnectionState()
			if !ok {
				t.Fatal("no server state")
			}
			cfg := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
			if err := cfg.ExtractSessionKeysFromDTLS(&state, false); err != nil {
				t.Fatal(err)
			}
			k, err := c.Keys()
			if err != nil {
				t.Fatalf("suite %v profile %v: %v", suite, profile, err)
			}
			if !bytes.Equal(k.Key, cfg.Keys.LocalMasterKey) || !bytes.Equal(k.Salt, cfg.Keys.LocalMasterSalt) || k.Profile != Profile(profile) {
				t.Fatalf("suite %v profile %v: captured keys differ from pion's exporter", suite, profile)
			}
			ck, err := c.ClientKeys()
			if err != nil || !bytes.Equal(ck.Key, cfg.Keys.RemoteMasterKey) || !bytes.Equal(ck.Salt, cfg.Keys.RemoteMasterSalt) {
				t.Fatalf("suite %v profile %v: client keys differ from pion's exporter (%v)", suite, profile, err)
			}
			_ = server.Close()
			_ = client.Close()
		}
	}
}

func TestCaptureOfAClientHasNoKeys(t *testing.T) {
	var c Capture
	_, _ = c.Write([]byte("CLIENT_RANDOM 00 11\n"))
	if _, err := c.Keys(); err != ErrNotServer {
		t.Fatalf("got %v, want ErrNotServer", err)
	}
}

func dtlsPair(t *testing.T, suite dtls.CipherSuiteID, profile dtls.SRTPProtectionProfile, c *Capture) (server, client *dtls.Conn) {
	t.Helper()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	sconn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cconn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server, err = dtls.ServerWithOptions(sconn, cconn.LocalAddr(),
		dtls.WithCertificates(cert), dtls.WithCipherSuites(suite), dtls.WithSRTPProtectionProfiles(profile),
		dtls.WithKeyLogWriter(c), dtls.WithServerHelloMessageHook(c.ServerHello), dtls.WithInsecureSkipVerify(true))
	if err != nil {
		t.Fatal(err)
	}
	client, err = dtls.ClientWithOptions(cconn, sconn.LocalAddr(),
		dtls.WithCertificates(cert), dtls.WithCipherSuites(suite), dtls.WithSRTPProtectionProfiles(profile),
		dtls.WithInsecureSkipVerify(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 1)
	go func() { errs <- client.HandshakeContext(ctx) }()
	if err := server.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return server, client
}

// Open reads what pion's SRTCP writes, and refuses a tampered packet.
func TestRTCPOpenerReadsPionsSRTCP(t *testing.T) {
	for _, p := range []struct {
		ours Profile
		pion srtp.ProtectionProfile
	}{{AES128GCM, srtp.ProtectionProfileAeadAes128Gcm}, {AES256GCM, srtp.ProtectionProfileAeadAes256Gcm}} {
		key, salt := randBytes(t, p.ours.KeyLen()), randBytes(t, 12)
		enc, err := srtp.CreateContext(key, salt, p.pion)
		if err != nil {
			t.Fatal(err)
		}
		o, err := NewRTCPOpener(Keys{Profile: p.ours, Key: key, Salt: salt})
		if err != nil {
			t.Fatal(err)
		}
		rr := rtcp.ReceiverReport{SSRC: 0xabcd, Reports: []rtcp.ReceptionReport{{SSRC: 7, FractionLost: 3, LastSenderReport: 99}}}
		nack := rtcp.TransportLayerNack{SenderSSRC: 0xabcd, MediaSSRC: 7, Nacks: []rtcp.NackPair{{PacketID: 5, LostPackets: 3}}}
		plain, err := rtcp.Marshal([]rtcp.Packet{&rr, &nack})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			pkt, err := enc.EncryptRTCP(nil, plain, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, ssrc, index, err := o.Open(nil, pkt)
			if err != nil || !bytes.Equal(got, plain) || ssrc != 0xabcd || index != uint32(i) {
				t.Fatalf("%s packet %d: ssrc %x index %d err %v, plaintext equal %v", p.ours, i, ssrc, index, err, bytes.Equal(got, plain))
			}
			pkt[10] ^= 1
			if _, _, _, err := o.Open(nil, pkt); err == nil {
				t.Fatalf("%s: a tampered packet opened", p.ours)
			}
		}
	}
}

func TestReplayAcceptsEachIndexOnceWithinTheWindow(t *testing.T) {
	var r Replay
	for _, c := range []struct {
		i  uint32
		ok bool
	}{{10, true}, {10, false}, {12, true}, {11, true}, {11, false}, {100, true}, {36, false}, {37, true}, {37, false}, {99, true}, {300, true}, {237, true}, {236, false}} {
		if got := r.Accept(c.i); got != c.ok {
			t.Fatalf("index %d: accepted %v, want %v", c.i, got, c.ok)
		}
	}
}

// What RTCPSealer writes, pion's SRTCP (as pion peers and browsers do)
// decrypts to the same compound, under the index given; sealing allocates
// nothing.
func TestRTCPSealerWritesWhatPionReads(t *testing.T) {
	for _, p := range []struct {
		ours Profile
		pion srtp.ProtectionProfile
	}{{AES128GCM, srtp.ProtectionProfileAeadAes128Gcm}, {AES256GCM, srtp.ProtectionProfileAeadAes256Gcm}} {
		key, salt := randBytes(t, p.ours.KeyLen()), randBytes(t, 12)
		dec, err := srtp.CreateContext(key, salt, p.pion)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewRTCPSealer(Keys{Profile: p.ours, Key: key, Salt: salt})
		if err != nil {
			t.Fatal(err)
		}
		o, _ := NewRTCPOpener(Keys{Profile: p.ours, Key: key, Salt: salt})
		plain, err := rtcp.Marshal([]rtcp.Packet{
			&rtcp.ReceiverReport{SSRC: 0x5eed},
			&rtcp.SenderReport{SSRC: 77, NTPTime: 1 << 40, RTPTime: 9000, PacketCount: 30, OctetCount: 15000},
		})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, len(plain)+RTCPOverhead)
		for _, index := range []uint32{1, 2, 1 << 30} {
			pkt := s.Seal(append(buf[:0], plain...), index)
			if len(pkt) != len(plain)+RTCPOverhead {
				t.Fatalf("%s: sealed %d bytes, want %d", p.ours, len(pkt), len(plain)+RTCPOverhead)
			}
			got, err := dec.DecryptRTCP(nil, pkt, nil)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s index %d: pion read %x, %v; want %x", p.ours, index, got, err, plain)
			}
			if _, ssrc, i, err := o.Open(nil, pkt); err != nil || ssrc != 0x5eed || i != index {
				t.Fatalf("%s: opened SSRC %x index %d, %v", p.ours, ssrc, i, err)
			}
		}
		if n := testing.AllocsPerRun(100, func() { s.Seal(append(buf[:0], plain...), 3) }); n != 0 {
			t.Fatalf("%.1f allocations per seal", n)
		}
	}
}
