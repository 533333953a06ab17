package events

import (
	"fmt"
	"strings"
)

// Action is a client message's route selection key (API Gateway selects the
// route on `$request.body.action`).
type Action string

const (
	ActionCreate          Action = "create"
	ActionJoin            Action = "join"
	ActionResync          Action = "resync"
	ActionLeave           Action = "leave"
	ActionPing            Action = "ping"
	ActionUpdate          Action = "update"
	ActionPublishOffer    Action = "publish_offer"
	ActionSubscribeAnswer Action = "subscribe_answer"
	ActionCandidate       Action = "candidate"
	ActionAdmit           Action = "admit"
	ActionAdmitAll        Action = "admit_all"
	ActionDeny            Action = "deny"
	ActionMute            Action = "mute"
	ActionMuteAll         Action = "mute_all"
	ActionRemove          Action = "remove"
	ActionLock            Action = "lock"
	ActionEnd             Action = "end"
	ActionSetRole         Action = "set_role"
	ActionLookup          Action = "lookup"
)

// Request is the part every client message shares: the action and an id the
// client chose, which every reply and error for this message names.
type Request struct {
	Action Action `json:"action" veet:"required"`
	ID     string `json:"id" veet:"required"`
}

// Head returns the shared part; it makes every client message a ClientMessage.
func (r *Request) Head() *Request { return r }

// Limits on client input. SDP from browsers is 3–12 KB; the cap leaves room
// for many m-lines while staying under API Gateway's 32 KB frame.
const (
	MaxIDLen      = 64
	MaxTokenLen   = 1024
	MaxSDPLen     = 30 * 1024
	MaxCandidate  = 1024
	MaxTracks     = 8
	MaxTrackIDLen = 128
)

// CreateRequest creates a meeting; the reply is Created.
type CreateRequest struct {
	Request
	Title string `json:"title,omitempty"`
}

// JoinRequest joins a meeting. With a host or participant token for this
// meeting the caller joins at once (reply Joined); with no token it knocks and
// waits in the lobby (reply LobbyWaiting). A token given at $connect is used
// when Token is empty.
type JoinRequest struct {
	Request
	Code  RoomCode `json:"code" veet:"required"`
	Name  string   `json:"name" veet:"required"`
	Token string   `json:"token,omitempty"`
	// Initial device state, so others see the right tiles from the first frame.
	MicOn bool `json:"micOn"`
	CamOn bool `json:"camOn"`
	// Session names the client's media session: its pair of PeerConnections.
	// Joining again with the same session (a new socket, a resent join) keeps
	// the media the node has for it; a new session starts fresh media. No
	// session: the participant has no media (presence only) until a join
	// that names one.
	Session string `json:"session,omitempty"`
	// Guest is a key the browser keeps (localStorage) and sends with every
	// knock: the guest's id derives from it, so a denial's cool-down and the
	// lobby place hold across "try again" and reloads. Without it the id
	// derives from the socket.
	Guest string `json:"guest,omitempty"`
	// Resume says the client has media under Session and means to keep it
	// (a new socket after a drop). Should the node not have that session any
	// more, it answers media_reconnect naming it: start a new one.
	Resume bool `json:"resume,omitempty"`
}

// LookupRequest asks what a meeting is before joining it, so the pre-join
// page can tell at once that it does not exist, has ended, is locked, or
// that this person was removed; reply MeetingInfo. Token and Guest say who
// asks (optional).
type LookupRequest struct {
	Request
	Code  RoomCode `json:"code" veet:"required"`
	Token string   `json:"token,omitempty"`
	Guest string   `json:"guest,omitempty"`
}

// ResyncRequest asks for a fresh Snapshot, e.g. after a sequence gap.
type ResyncRequest struct {
	Request
}

// LeaveRequest leaves the meeting, or cancels a knock from the lobby.
type LeaveRequest struct {
	Request
}

// PingRequest keeps the connection alive (API Gateway closes idle sockets
// after 10 minutes) and refreshes the connection's TTL; reply Pong.
type PingRequest struct {
	Request
}

// UpdateRequest changes the caller's own state; nil fields are unchanged.
// Turning the mic back on after a host muted it is allowed, as in Meet: hosts
// can silence people but never open their microphone.
type UpdateRequest struct {
	Request
	MicOn      *bool   `json:"micOn,omitempty"`
	CamOn      *bool   `json:"camOn,omitempty"`
	ScreenOn   *bool   `json:"screenOn,omitempty"`
	HandRaised *bool   `json:"handRaised,omitempty"`
	Name       *string `json:"name,omitempty"`
}

// TrackInfo describes one published track: the browser's
// MediaStreamTrack.id and what it carries.
type TrackInfo struct {
	TrackID string `json:"trackId" veet:"required"`
	Source  Source `json:"source" veet:"required"`
}

// PublishOfferRequest carries the client's offer for its publish
// PeerConnection and says what each track is; the SFU replies PublishAnswer.
type PublishOfferRequest struct {
	Request
	// Session is the media session (see JoinRequest) the offer belongs to;
	// an offer of a session the node no longer has is refused.
	Session string      `json:"session" veet:"required"`
	SDP     string      `json:"sdp" veet:"required"`
	Tracks  []TrackInfo `json:"tracks" veet:"required"`
}

// SubscribeAnswerRequest answers the SFU's SubscribeOffer.
type SubscribeAnswerRequest struct {
	Request
	Session string `json:"session" veet:"required"`
	// OfferID is the SubscribeOffer's offerId this answers; an answer to
	// any other offer than the one waiting is ignored.
	OfferID string `json:"offerId" veet:"required"`
	SDP     string `json:"sdp" veet:"required"`
}

// ICECandidate mirrors the browser's RTCIceCandidateInit.
type ICECandidate struct {
	Candidate        string  `json:"candidate" veet:"required"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// CandidateRequest trickles one ICE candidate to the SFU.
type CandidateRequest struct {
	Request
	Session   string       `json:"session" veet:"required"`
	Target    PeerTarget   `json:"target" veet:"required"`
	Candidate ICECandidate `json:"candidate" veet:"required"`
}

// AdmitRequest lets one guest in from the lobby (hosts and co-hosts).
type AdmitRequest struct {
	Request
	ParticipantID ParticipantID `json:"participantId" veet:"required"`
}

// AdmitAllRequest lets every waiting guest in.
type AdmitAllRequest struct {
	Request
}

// DenyRequest turns a guest away; the guest may knock again after a cool-down.
type DenyRequest struct {
	Request
	ParticipantID ParticipantID `json:"participantId" veet:"required"`
}

// MuteRequest stops one of a participant's sources: the SFU stops forwarding
// it at once and the participant is told (Muted).
type MuteRequest struct {
	Request
	ParticipantID ParticipantID `json:"participantId" veet:"required"`
	Source        Source        `json:"source" veet:"required"`
}

// MuteAllRequest mutes every microphone but the caller's.
type MuteAllRequest struct {
	Request
}

// RemoveRequest removes a participant; their token is barred from rejoining.
type RemoveRequest struct {
	Request
	ParticipantID ParticipantID `json:"participantId" veet:"required"`
}

// LockRequest locks (no new knocks) or unlocks the meeting's lobby.
type LockRequest struct {
	Request
	Locked bool `json:"locked" veet:"required"`
}

// EndRequest ends the meeting for everyone.
type EndRequest struct {
	Request
}

// SetRoleRequest promotes a participant to co-host or demotes a co-host
// (hosts only).
type SetRoleRequest struct {
	Request
	ParticipantID ParticipantID `json:"participantId" veet:"required"`
	Role          Role          `json:"role" veet:"required"`
}

// ClientMessage is any message a client sends.
type ClientMessage interface {
	Head() *Request
	validate() error
}

// clientTypes maps each action to a constructor of its message type; it is
// the list the parser and the TypeScript generator walk.
var clientTypes = map[Action]func() ClientMessage{
	ActionCreate:          func() ClientMessage { return &CreateRequest{} },
	ActionJoin:            func() ClientMessage { return &JoinRequest{} },
	ActionResync:          func() ClientMessage { return &ResyncRequest{} },
	ActionLeave:           func() ClientMessage { return &LeaveRequest{} },
	ActionPing:            func() ClientMessage { return &PingRequest{} },
	ActionUpdate:          func() ClientMessage { return &UpdateRequest{} },
	ActionPublishOffer:    func() ClientMessage { return &PublishOfferRequest{} },
	ActionSubscribeAnswer: func() ClientMessage { return &SubscribeAnswerRequest{} },
	ActionCandidate:       func() ClientMessage { return &CandidateRequest{} },
	ActionAdmit:           func() ClientMessage { return &AdmitRequest{} },
	ActionAdmitAll:        func() ClientMessage { return &AdmitAllRequest{} },
	ActionDeny:            func() ClientMessage { return &DenyRequest{} },
	ActionMute:            func() ClientMessage { return &MuteRequest{} },
	ActionMuteAll:         func() ClientMessage { return &MuteAllRequest{} },
	ActionRemove:          func() ClientMessage { return &RemoveRequest{} },
	ActionLock:            func() ClientMessage { return &LockRequest{} },
	ActionEnd:             func() ClientMessage { return &EndRequest{} },
	ActionSetRole:         func() ClientMessage { return &SetRoleRequest{} },
	ActionLookup:          func() ClientMessage { return &LookupRequest{} },
	ActionChat:            func() ClientMessage { return &ChatRequest{} },
	ActionChatHistory:     func() ClientMessage { return &ChatHistoryRequest{} },
	ActionReact:           func() ClientMessage { return &ReactRequest{} },
	ActionSetChat:         func() ClientMessage { return &SetChatRequest{} },
	ActionLowerHands:      func() ClientMessage { return &LowerHandsRequest{} },
	ActionVideoSizes:      func() ClientMessage { return &VideoSizesRequest{} },
}

func (m *CreateRequest) validate() (err error) {
	m.Title, err = CleanTitle(m.Title)
	return err
}

func (m *JoinRequest) validate() error {
	if !m.Code.Valid() {
		return fmt.Errorf("code must look like abc-defg-hij")
	}
	var err error
	if m.Name, err = CleanName(m.Name); err != nil {
		return err
	}
	if len(m.Token) > MaxTokenLen {
		return fmt.Errorf("token is longer than %d bytes", MaxTokenLen)
	}
	if m.Guest != "" && !sessionRE.MatchString(m.Guest) {
		return fmt.Errorf("guest must be 1-64 characters of [A-Za-z0-9_.:-]")
	}
	if m.Session != "" {
		return checkSession(m.Session)
	}
	return nil
}

func (m *LookupRequest) validate() error {
	if !m.Code.Valid() {
		return fmt.Errorf("code must look like abc-defg-hij")
	}
	if len(m.Token) > MaxTokenLen {
		return fmt.Errorf("token is longer than %d bytes", MaxTokenLen)
	}
	if m.Guest != "" && !sessionRE.MatchString(m.Guest) {
		return fmt.Errorf("guest must be 1-64 characters of [A-Za-z0-9_.:-]")
	}
	return nil
}

func (m *ResyncRequest) validate() error   { return nil }
func (m *LeaveRequest) validate() error    { return nil }
func (m *PingRequest) validate() error     { return nil }
func (m *AdmitAllRequest) validate() error { return nil }
func (m *MuteAllRequest) validate() error  { return nil }
func (m *LockRequest) validate() error     { return nil }
func (m *EndRequest) validate() error      { return nil }

func (m *UpdateRequest) validate() error {
	if m.MicOn == nil && m.CamOn == nil && m.ScreenOn == nil && m.HandRaised == nil && m.Name == nil {
		return fmt.Errorf("update changes nothing")
	}
	if m.Name != nil {
		name, err := CleanName(*m.Name)
		if err != nil {
			return err
		}
		m.Name = &name
	}
	return nil
}

func (m *PublishOfferRequest) validate() error {
	if err := checkSession(m.Session); err != nil {
		return err
	}
	if err := checkSDP(m.SDP); err != nil {
		return err
	}
	if len(m.Tracks) > MaxTracks {
		return fmt.Errorf("at most %d tracks", MaxTracks)
	}
	for _, t := range m.Tracks {
		if t.TrackID == "" || len(t.TrackID) > MaxTrackIDLen {
			return fmt.Errorf("trackId must be 1..%d bytes", MaxTrackIDLen)
		}
		if !t.Source.Valid() {
			return fmt.Errorf("unknown track source %q", t.Source)
		}
	}
	return nil
}

func (m *SubscribeAnswerRequest) validate() error {
	if err := checkSession(m.Session); err != nil {
		return err
	}
	if !sessionRE.MatchString(m.OfferID) {
		return fmt.Errorf("offerId is required: the subscribe_offer's offerId")
	}
	return checkSDP(m.SDP)
}

func (m *CandidateRequest) validate() error {
	if err := checkSession(m.Session); err != nil {
		return err
	}
	if m.Target != TargetPublish && m.Target != TargetSubscribe {
		return fmt.Errorf("target must be %q or %q", TargetPublish, TargetSubscribe)
	}
	// An empty candidate string is the browser's end-of-candidates marker.
	if len(m.Candidate.Candidate) > MaxCandidate {
		return fmt.Errorf("candidate is longer than %d bytes", MaxCandidate)
	}
	return nil
}

func (m *AdmitRequest) validate() error  { return checkParticipant(m.ParticipantID) }
func (m *DenyRequest) validate() error   { return checkParticipant(m.ParticipantID) }
func (m *RemoveRequest) validate() error { return checkParticipant(m.ParticipantID) }

func (m *MuteRequest) validate() error {
	if err := checkParticipant(m.ParticipantID); err != nil {
		return err
	}
	if !m.Source.Valid() {
		return fmt.Errorf("unknown source %q", m.Source)
	}
	return nil
}

func (m *SetRoleRequest) validate() error {
	if err := checkParticipant(m.ParticipantID); err != nil {
		return err
	}
	if m.Role != RoleCohost && m.Role != RoleParticipant {
		return fmt.Errorf("role must be %q or %q", RoleCohost, RoleParticipant)
	}
	return nil
}

// sessionRE is what a media session id and an offer id look like: the
// request id's alphabet.
var sessionRE = requestIDRE

func checkSession(s string) error {
	if !sessionRE.MatchString(s) {
		return fmt.Errorf("session is required: 1-64 characters of [A-Za-z0-9_.:-]")
	}
	return nil
}

func checkParticipant(p ParticipantID) error {
	if !p.Valid() {
		return fmt.Errorf("participantId is not a participant id")
	}
	return nil
}

func checkSDP(sdp string) error {
	if !strings.HasPrefix(sdp, "v=0") {
		return fmt.Errorf("sdp must start with v=0")
	}
	if len(sdp) > MaxSDPLen {
		return fmt.Errorf("sdp is longer than %d bytes", MaxSDPLen)
	}
	return nil
}
