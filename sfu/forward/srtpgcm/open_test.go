package srtpgcm

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// sealedByPion returns plain RTP packets with the given sequence numbers,
// in order, and pion's SRTP of each (pion's sender counts the rollovers).
func sealedByPion(t *testing.T, pp srtp.ProtectionProfile, key, salt []byte, seqs []uint16, csrc bool) (plain, sealed [][]byte) {
	t.Helper()
	enc, err := srtp.CreateContext(key, salt, pp)
	if err != nil {
		t.Fatal(err)
	}
	for i, seq := range seqs {
		h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 3000 * uint32(i), SSRC: 0xbeef0002}
		if csrc {
			h.CSRC = []uint32{7, 8}
		}
		if err := h.SetExtension(3, []byte{0x12, 0x34, 0x56}); err != nil {
			t.Fatal(err)
		}
		hdr, err := h.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p := append(hdr, randBytes(t, 200+i)...)
		s, err := enc.EncryptRTP(nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		plain, sealed = append(plain, p), append(sealed, s)
	}
	return plain, sealed
}

// What pion seals the Opener opens, across a rollover and with a packet
// from before the wrap arriving after it, in place or into another buffer.
func TestOpenReadsPionSRTP(t *testing.T) {
	seqs := []uint16{65532, 65533, 65534, 65535, 0, 1, 2}
	order := []int{0, 1, 2, 4, 3, 5, 6} // 65535 arrives after 0
	for _, p := range []struct {
		ours Profile
		pion srtp.ProtectionProfile
	}{{AES128GCM, srtp.ProtectionProfileAeadAes128Gcm}, {AES256GCM, srtp.ProtectionProfileAeadAes256Gcm}} {
		for _, csrc := range []bool{false, true} {
			key, salt := randBytes(t, p.ours.KeyLen()), randBytes(t, 12)
			plain, sealed := sealedByPion(t, p.pion, key, salt, seqs, csrc)
			o, err := NewOpener(Keys{Profile: p.ours, Key: key, Salt: salt})
			if err != nil {
				t.Fatal(err)
			}
			var inPlace, copied Rollover
			for _, i := range order {
				got, err := o.Open(make([]byte, 0, 2048), sealed[i], &copied)
				if err != nil {
					t.Fatalf("%s csrc %v seq %d: %v", p.ours, csrc, seqs[i], err)
				}
				if !bytes.Equal(got, plain[i]) {
					t.Fatalf("%s csrc %v seq %d: opened packet differs", p.ours, csrc, seqs[i])
				}
				buf := append([]byte(nil), sealed[i]...)
				got, err = o.Open(buf[:0], buf, &inPlace)
				if err != nil || !bytes.Equal(got, plain[i]) {
					t.Fatalf("%s csrc %v seq %d in place: %v", p.ours, csrc, seqs[i], err)
				}
			}
			if copied.ROC() != 1 || inPlace.ROC() != 1 {
				t.Fatalf("rollover counters %d and %d after the wrap, want 1", copied.ROC(), inPlace.ROC())
			}
		}
	}
}

// A packet that fails to authenticate changes nothing: not the rollover
// counter (a forged sequence number past the wrap would otherwise make
// every later genuine packet fail), not the next packet's opening.
func TestOpenRefusesWhatIsNotAuthentic(t *testing.T) {
	key, salt := randBytes(t, 16), randBytes(t, 12)
	plain, sealed := sealedByPion(t, srtp.ProtectionProfileAeadAes128Gcm, key, salt, []uint16{40000, 40001, 40002}, false)
	o, err := NewOpener(Keys{Profile: AES128GCM, Key: key, Salt: salt})
	if err != nil {
		t.Fatal(err)
	}
	var r Rollover
	if _, err := o.Open(nil, sealed[0], &r); err != nil {
		t.Fatal(err)
	}
	forged := append([]byte(nil), sealed[1]...)
	forged[2], forged[3] = 0, 5 // a sequence number that would mean a wrap
	tampered := append([]byte(nil), sealed[1]...)
	tampered[len(tampered)-20] ^= 1
	for name, pkt := range map[string][]byte{
		"forged sequence number": forged,
		"tampered payload":       tampered,
		"truncated":              sealed[1][:20],
		"not RTP":                {0x00, 0x01, 0x02},
		"empty":                  nil,
	} {
		if _, err := o.Open(nil, pkt, &r); err != ErrSRTP {
			t.Fatalf("%s: %v, want ErrSRTP", name, err)
		}
	}
	if r.ROC() != 0 {
		t.Fatalf("rollover counter %d after refused packets", r.ROC())
	}
	for i := 1; i < 3; i++ {
		got, err := o.Open(nil, sealed[i], &r)
		if err != nil || !bytes.Equal(got, plain[i]) {
			t.Fatalf("genuine packet %d after refused ones: %v", i, err)
		}
	}
}

func TestOpenAllocatesNothing(t *testing.T) {
	key, salt := randBytes(t, 16), randBytes(t, 12)
	_, sealed := sealedByPion(t, srtp.ProtectionProfileAeadAes128Gcm, key, salt, []uint16{9}, false)
	o, err := NewOpener(Keys{Profile: AES128GCM, Key: key, Salt: salt})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 2048)
	if n := testing.AllocsPerRun(100, func() {
		var r Rollover
		if _, err := o.Open(buf, sealed[0], &r); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%.1f allocations per open", n)
	}
}

// A packet is taken once: the same one again, or one from before the
// 64-packet window, is refused, whatever the rollovers between.
func TestOpenRefusesReplays(t *testing.T) {
	key, salt := randBytes(t, 16), randBytes(t, 12)
	var seqs []uint16
	for i := range 200 {
		seqs = append(seqs, uint16(65500+i)) // wraps after 36
	}
	plain, sealed := sealedByPion(t, srtp.ProtectionProfileAeadAes128Gcm, key, salt, seqs, false)
	o, err := NewOpener(Keys{Profile: AES128GCM, Key: key, Salt: salt})
	if err != nil {
		t.Fatal(err)
	}
	var r Rollover
	open := func(i int) error {
		got, err := o.Open(nil, sealed[i], &r)
		if err == nil && !bytes.Equal(got, plain[i]) {
			t.Fatalf("packet %d opened wrong", i)
		}
		return err
	}
	for i := 0; i < 100; i += 2 { // the even ones first
		if err := open(i); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	if err := open(98); err != ErrReplay {
		t.Fatalf("the newest again: %v, want ErrReplay", err)
	}
	if err := open(40); err != ErrReplay {
		t.Fatalf("one seen before the wrap's window edge: %v, want ErrReplay", err)
	}
	if err := open(97); err != nil {
		t.Fatalf("a late one within the window: %v", err)
	}
	if err := open(97); err != ErrReplay {
		t.Fatalf("the late one again: %v, want ErrReplay", err)
	}
	if err := open(33); err != ErrReplay {
		t.Fatalf("one from before the window (and the wrap): %v, want ErrReplay", err)
	}
	for i := 100; i < 200; i++ {
		if err := open(i); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	if r.ROC() != 1 {
		t.Fatalf("rollover counter %d, want 1", r.ROC())
	}
}
