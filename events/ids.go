// Package events is veet's protocol: every message that crosses a process
// boundary — client actions, server events and commands to SFU nodes — as Go
// types with their JSON encoding and validation. The SPA's TypeScript types are
// generated from these (events/cmd/tsgen), so this package is the one source of
// truth.
package events

import (
	"crypto/rand"
	"regexp"
)

// RoomCode is a meeting's human-typable code, e.g. "abc-defg-hij".
type RoomCode string

// ParticipantID names one person in one meeting; it is stable across that
// person's reconnects (it is the subject of their token).
type ParticipantID string

// ConnectionID is an API Gateway WebSocket connection id.
type ConnectionID string

// NodeID names one SFU node.
type NodeID string

// Role is what a participant may do in a meeting.
type Role string

const (
	RoleHost        Role = "host"        // the creator; may do everything
	RoleCohost      Role = "cohost"      // promoted by a host; moderates but cannot promote
	RoleParticipant Role = "participant" // admitted or invited
	RoleGuest       Role = "guest"       // knocked, waiting in the lobby
)

// Moderates reports whether the role may admit, mute, remove, lock and end.
func (r Role) Moderates() bool { return r == RoleHost || r == RoleCohost }

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleHost, RoleCohost, RoleParticipant, RoleGuest:
		return true
	}
	return false
}

// Source is what a media track carries, as the person sees it.
type Source string

const (
	SourceMicrophone  Source = "microphone"
	SourceCamera      Source = "camera"
	SourceScreen      Source = "screen"
	SourceScreenAudio Source = "screen_audio"
)

// Valid reports whether s is a known source.
func (s Source) Valid() bool {
	switch s {
	case SourceMicrophone, SourceCamera, SourceScreen, SourceScreenAudio:
		return true
	}
	return false
}

// PeerTarget says which of a participant's two PeerConnections a signaling
// message belongs to.
type PeerTarget string

const (
	TargetPublish   PeerTarget = "publish"   // client offers, SFU answers
	TargetSubscribe PeerTarget = "subscribe" // SFU offers, client answers
)

var codeRE = regexp.MustCompile(`^[a-z]{3}-[a-z]{4}-[a-z]{3}$`)

// Valid reports whether c has the shape of a meeting code.
func (c RoomCode) Valid() bool { return codeRE.MatchString(string(c)) }

// NewRoomCode returns a random code like "abc-defg-hij" (26^10 ≈ 1.4e14
// codes, so guessing one is impractical even before rate limits).
func NewRoomCode() RoomCode {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	var b [10]byte
	var out [12]byte
	_, _ = rand.Read(b[:])
	j := 0
	for i := range b {
		if i == 3 || i == 7 {
			out[j] = '-'
			j++
		}
		out[j] = letters[int(b[i])%len(letters)]
		j++
	}
	return RoomCode(out[:])
}

var idRE = regexp.MustCompile(`^p_[A-Za-z0-9]{12}$`)

// Valid reports whether p has the shape of a participant id.
func (p ParticipantID) Valid() bool { return idRE.MatchString(string(p)) }

// NewParticipantID returns a random participant id like "p_Ab3dE5gH9jK1".
func NewParticipantID() ParticipantID {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [12]byte
	_, _ = rand.Read(b[:])
	out := []byte("p_")
	for _, v := range b {
		out = append(out, alnum[int(v)%len(alnum)])
	}
	return ParticipantID(out)
}
