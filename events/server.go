package events

import (
	"encoding/json"
	"fmt"
)

// EventType names a server event; clients switch on `type`.
type EventType string

const (
	TypeError              EventType = "error"
	TypeAck                EventType = "ack"
	TypePong               EventType = "pong"
	TypeCreated            EventType = "created"
	TypeJoined             EventType = "joined"
	TypeLobbyWaiting       EventType = "lobby_waiting"
	TypeAdmitted           EventType = "admitted"
	TypeDenied             EventType = "denied"
	TypeLeft               EventType = "left"
	TypeSnapshot           EventType = "snapshot"
	TypeParticipantJoined  EventType = "participant_joined"
	TypeParticipantLeft    EventType = "participant_left"
	TypeParticipantUpdated EventType = "participant_updated"
	TypeRoomUpdated        EventType = "room_updated"
	TypeKnock              EventType = "knock"
	TypeLobbyLeft          EventType = "lobby_left"
	TypeMuted              EventType = "muted"
	TypeRemoved            EventType = "removed"
	TypeEnded              EventType = "ended"
	TypePublishAnswer      EventType = "publish_answer"
	TypeSubscribeOffer     EventType = "subscribe_offer"
	TypeICECandidate       EventType = "candidate"
	TypeTracks             EventType = "tracks"
	TypeActiveSpeakers     EventType = "active_speakers"
	TypeMediaReconnect     EventType = "media_reconnect"
	TypeRejoin             EventType = "rejoin"
	TypeMeetingInfo        EventType = "meeting"
	TypePresence           EventType = "presence"
	TypeAllMuted           EventType = "all_muted"
	TypeRoomPage           EventType = "room_page"
)

// Meta is the part every server event shares.
type Meta struct {
	Type EventType `json:"type"`
	// ID is the client request this event answers, when it answers one.
	ID string `json:"id,omitempty"`
	// Seq orders a room's presence events (joins, leaves, updates, room
	// changes). It grows by one per change, so a client that sees a gap asks
	// for a Snapshot. Zero on events outside that sequence.
	Seq uint64 `json:"seq,omitempty"`
	// Epoch is the room's placement epoch: it grows each time the room is
	// placed on a media node. A joined reply and every event a media node
	// sends carry it; a client drops media events of an older epoch than the
	// one it joined at (they come from a node that no longer owns the room).
	Epoch uint64 `json:"epoch,omitempty"`
	// Session is the client's media session a node event belongs to (see
	// JoinRequest.Session); a client drops events of any other session.
	Session string `json:"session,omitempty"`
}

func (m *Meta) meta() *Meta { return m }

// Event is any server event.
type Event interface {
	meta() *Meta
	EventType() EventType
}

// Marshal encodes an event with its type filled in.
func Marshal(e Event) ([]byte, error) {
	e.meta().Type = e.EventType()
	return json.Marshal(e)
}

// Reply sets the request id the event answers and returns the event.
func Reply[E Event](id string, e E) E {
	e.meta().ID = id
	return e
}

// WithSeq sets the room sequence number and returns the event.
func WithSeq[E Event](seq uint64, e E) E {
	e.meta().Seq = seq
	return e
}

// MetaOf returns the part every event shares.
func MetaOf(e Event) Meta { return *e.meta() }

// WithEpoch sets the placement epoch and returns the event.
func WithEpoch[E Event](epoch uint64, e E) E {
	e.meta().Epoch = epoch
	return e
}

// WithSession sets the media session the event belongs to and returns it.
func WithSession[E Event](session string, e E) E {
	e.meta().Session = session
	return e
}

// ErrorEvent refuses a request. RequestID is the gateway's id for the
// message (API Gateway's requestContext.requestId), for support and logs; ID
// is the client's own id, when the message had a readable one.
type ErrorEvent struct {
	Meta
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	// RetryAfterMS is set on rate_limited and too_soon.
	RetryAfterMS int64 `json:"retryAfterMs,omitempty"`
	// Region is set on wrong_region: the region the meeting lives in (the
	// runtime config lists each region's endpoint).
	Region string `json:"region,omitempty"`
}

// Ack confirms a request that has no richer reply (moderation, update).
type Ack struct{ Meta }

// Pong answers Ping with the server's clock.
type Pong struct {
	Meta
	ServerTime int64 `json:"serverTime"` // Unix milliseconds
}

// Participant is what everyone in a meeting sees of one person.
type Participant struct {
	ID         ParticipantID `json:"id"`
	Name       string        `json:"name"`
	Role       Role          `json:"role"`
	MicOn      bool          `json:"micOn"`
	CamOn      bool          `json:"camOn"`
	ScreenOn   bool          `json:"screenOn"`
	HandRaised bool          `json:"handRaised"`
	// HandRaisedAt is when the hand went up (Unix ms; the server's clock),
	// so that everyone sees the same queue; absent while it is down.
	HandRaisedAt int64 `json:"handRaisedAt,omitempty"`
	JoinedAt     int64 `json:"joinedAt"` // Unix milliseconds
	// Reconnecting: their socket dropped and they have not joined again
	// yet; they stay in the meeting (and in its media) for a grace period,
	// then leave with reason "disconnected".
	Reconnecting bool `json:"reconnecting,omitempty"`
}

// Guest is a person waiting in the lobby.
type Guest struct {
	ID        ParticipantID `json:"id"`
	Name      string        `json:"name"`
	KnockedAt int64         `json:"knockedAt"` // Unix milliseconds
}

// Track is one published media track as subscribers see it. StreamID and
// TrackID are the ids the subscriber's browser sees on the incoming track
// (the SFU sets them), so a client maps a remote track to its tile.
type Track struct {
	ParticipantID ParticipantID `json:"participantId"`
	Source        Source        `json:"source"`
	StreamID      string        `json:"streamId"`
	TrackID       string        `json:"trackId"`
	Kind          string        `json:"kind"` // "audio" or "video"
	Muted         bool          `json:"muted"`
	// Mid is the transceiver that carries the track on the subscriber's
	// connection (in a SubscribeOffer's list only). A client maps received
	// tracks to tiles by it: a browser that reuses a transceiver for another
	// track keeps the old MediaStreamTrack (and its id).
	Mid string `json:"mid,omitempty"`
}

// Room is a meeting as one participant sees it at one sequence number.
type Room struct {
	Code   RoomCode `json:"code"`
	Title  string   `json:"title"`
	Locked bool     `json:"locked"`
	// ChatDisabled: only hosts and co-hosts may send chat messages.
	ChatDisabled bool          `json:"chatDisabled,omitempty"`
	Seq          uint64        `json:"seq"`
	Participants []Participant `json:"participants"`
	// Lobby is filled for hosts and co-hosts only.
	Lobby []Guest `json:"lobby"`
}

// Created answers Create: the meeting's code and the creator's host token.
type Created struct {
	Meta
	Code      RoomCode `json:"code"`
	HostToken string   `json:"hostToken"`
	// ExpiresAt is when the meeting is forgotten if nobody joins (Unix ms).
	ExpiresAt int64 `json:"expiresAt"`
}

// Joined answers Join for someone let in: who they are, a token that rejoins
// without knocking (store it for reloads), and the room.
type Joined struct {
	Meta
	You   Participant `json:"you"`
	Token string      `json:"token"`
	Room  Room        `json:"room"`
	// Pages is how many messages the room takes (pages.go): Room holds the
	// first page of its participants and lobby, RoomPage events with the
	// same id and seq the others. Omitted when the room fits in this one.
	Pages int `json:"pages,omitempty"`
}

// LobbyWaiting answers a guest's Join: they are waiting for a host.
// Moderators is how many hosts and co-hosts are in the meeting to let them
// in: with none, nobody can answer the knock until one arrives.
type LobbyWaiting struct {
	Meta
	You        Guest    `json:"you"`
	Code       RoomCode `json:"code"`
	Title      string   `json:"title"`
	Moderators int      `json:"moderators"`
}

// MeetingStatus says whether a meeting can be joined.
type MeetingStatus string

const (
	MeetingOpen     MeetingStatus = "open"
	MeetingEnded    MeetingStatus = "ended"
	MeetingNotFound MeetingStatus = "not_found"
)

// MeetingInfo answers Lookup: what the pre-join page needs to say before
// anyone clicks. You is how the asker would enter ("host", "participant" for
// a valid token, "guest" to knock, "banned" when removed, "" when the
// meeting is not open); RetryAfterMS is set while a denial's cool-down runs.
// Names are the first few people in the meeting, by arrival.
type MeetingInfo struct {
	Meta
	Code         RoomCode      `json:"code"`
	Status       MeetingStatus `json:"status"`
	Title        string        `json:"title"`
	Locked       bool          `json:"locked"`
	You          string        `json:"you"`
	RetryAfterMS int64         `json:"retryAfterMs,omitempty"`
	People       int           `json:"people"`
	Names        []string      `json:"names"`
	Moderators   int           `json:"moderators"`
	// Region is where the meeting lives: connect to that region's endpoint
	// to join it.
	Region string `json:"region,omitempty"`
}

// Admitted tells a waiting guest they may join, with a participant token; the
// client then sends Join with it.
type Admitted struct {
	Meta
	Token string `json:"token"`
}

// Denied tells a waiting guest a host turned them away.
type Denied struct {
	Meta
	RetryAfterMS int64 `json:"retryAfterMs"`
}

// Left answers Leave.
type Left struct{ Meta }

// Snapshot answers Resync (and follows a reconnect) with the whole room.
type Snapshot struct {
	Meta
	Room Room `json:"room"`
	// Pages: as Joined.Pages.
	Pages int `json:"pages,omitempty"`
}

// ParticipantJoined: someone entered the meeting.
type ParticipantJoined struct {
	Meta
	Participant Participant `json:"participant"`
}

// LeaveReason says why someone left.
type LeaveReason string

const (
	ReasonLeft         LeaveReason = "left"
	ReasonDisconnected LeaveReason = "disconnected"
	ReasonRemoved      LeaveReason = "removed"
	ReasonEnded        LeaveReason = "ended"
	ReasonAdmitted     LeaveReason = "admitted"
	ReasonDenied       LeaveReason = "denied"
	ReasonCancelled    LeaveReason = "cancelled"
)

// ParticipantLeft: someone left the meeting.
type ParticipantLeft struct {
	Meta
	ParticipantID ParticipantID `json:"participantId"`
	Reason        LeaveReason   `json:"reason"`
}

// ParticipantUpdated: someone's state (mic, camera, hand, role, name,
// reconnecting) changed. Reason "handover" says they were made co-host
// because the last host and co-host left.
type ParticipantUpdated struct {
	Meta
	Participant Participant `json:"participant"`
	Reason      string      `json:"reason,omitempty"`
}

// RoomUpdated: the meeting's settings changed; it carries all of them.
type RoomUpdated struct {
	Meta
	Locked       bool `json:"locked"`
	ChatDisabled bool `json:"chatDisabled,omitempty"`
}

// Knock tells hosts and co-hosts that a guest is waiting.
type Knock struct {
	Meta
	Guest Guest `json:"guest"`
}

// LobbyLeft tells hosts and co-hosts a guest is no longer waiting.
type LobbyLeft struct {
	Meta
	ParticipantID ParticipantID `json:"participantId"`
	Reason        LeaveReason   `json:"reason"`
}

// Muted tells a participant a host turned one of their sources off; the
// client stops sending it and shows who did.
type Muted struct {
	Meta
	Source Source        `json:"source"`
	By     ParticipantID `json:"by"`
}

// Removed tells a participant a host removed them; the socket closes next.
type Removed struct {
	Meta
	By ParticipantID `json:"by"`
}

// Ended tells everyone the meeting is over.
type Ended struct {
	Meta
	By ParticipantID `json:"by"`
}

// PublishAnswer is the SFU's answer to PublishOffer.
type PublishAnswer struct {
	Meta
	SDP string `json:"sdp"`
}

// SubscribeOffer is the SFU's offer for the subscribe PeerConnection, sent
// whenever the set of forwarded tracks changes. Tracks is that set. OfferID
// names the offer: the answer must carry it. An offer unanswered for a few
// seconds is sent again with the same OfferID.
type SubscribeOffer struct {
	Meta
	OfferID string  `json:"offerId"`
	SDP     string  `json:"sdp"`
	Tracks  []Track `json:"tracks"`
}

// ICECandidateEvent trickles one of the SFU's candidates.
type ICECandidateEvent struct {
	Meta
	Target    PeerTarget   `json:"target"`
	Candidate ICECandidate `json:"candidate"`
}

// Tracks lists every track forwarded in the room now (sent on change).
type Tracks struct {
	Meta
	Tracks []Track `json:"tracks"`
}

// ActiveSpeakers lists who is speaking, loudest first.
type ActiveSpeakers struct {
	Meta
	ParticipantIDs []ParticipantID `json:"participantIds"`
}

// MediaReconnect tells a client its room moved to another media node, at
// Meta.Epoch: join again with a new media session (signaling stays up). With
// Migrate the old node keeps serving until the new session's media flows
// (make-before-break: close the old session then); without it the old node
// is gone and its media with it. A client ignores one whose epoch is not
// newer than its own.
type MediaReconnect struct {
	Meta
	Reason  string `json:"reason"`
	Migrate bool   `json:"migrate,omitempty"`
}

// Rejoin asks a client to send join again on its socket with its token and
// its current media session (the media stays up): the meeting's state was
// rebuilt (Redis lost it) and the server must learn who is there again.
type Rejoin struct {
	Meta
	Reason string `json:"reason"`
}

func (*ErrorEvent) EventType() EventType         { return TypeError }
func (*Ack) EventType() EventType                { return TypeAck }
func (*Pong) EventType() EventType               { return TypePong }
func (*Created) EventType() EventType            { return TypeCreated }
func (*Joined) EventType() EventType             { return TypeJoined }
func (*LobbyWaiting) EventType() EventType       { return TypeLobbyWaiting }
func (*Admitted) EventType() EventType           { return TypeAdmitted }
func (*Denied) EventType() EventType             { return TypeDenied }
func (*Left) EventType() EventType               { return TypeLeft }
func (*Snapshot) EventType() EventType           { return TypeSnapshot }
func (*ParticipantJoined) EventType() EventType  { return TypeParticipantJoined }
func (*ParticipantLeft) EventType() EventType    { return TypeParticipantLeft }
func (*ParticipantUpdated) EventType() EventType { return TypeParticipantUpdated }
func (*RoomUpdated) EventType() EventType        { return TypeRoomUpdated }
func (*Knock) EventType() EventType              { return TypeKnock }
func (*LobbyLeft) EventType() EventType          { return TypeLobbyLeft }
func (*Muted) EventType() EventType              { return TypeMuted }
func (*Removed) EventType() EventType            { return TypeRemoved }
func (*Ended) EventType() EventType              { return TypeEnded }
func (*PublishAnswer) EventType() EventType      { return TypePublishAnswer }
func (*SubscribeOffer) EventType() EventType     { return TypeSubscribeOffer }
func (*ICECandidateEvent) EventType() EventType  { return TypeICECandidate }
func (*Tracks) EventType() EventType             { return TypeTracks }
func (*ActiveSpeakers) EventType() EventType     { return TypeActiveSpeakers }
func (*MediaReconnect) EventType() EventType     { return TypeMediaReconnect }
func (*Rejoin) EventType() EventType             { return TypeRejoin }
func (*MeetingInfo) EventType() EventType        { return TypeMeetingInfo }
func (*Presence) EventType() EventType           { return TypePresence }
func (*AllMuted) EventType() EventType           { return TypeAllMuted }
func (*RoomPage) EventType() EventType           { return TypeRoomPage }

// serverTypes is every server event, for the TypeScript generator and tests.
var serverTypes = []Event{
	&ErrorEvent{}, &Ack{}, &Pong{}, &Created{}, &Joined{}, &LobbyWaiting{},
	&Admitted{}, &Denied{}, &Left{}, &Snapshot{}, &ParticipantJoined{},
	&ParticipantLeft{}, &ParticipantUpdated{}, &RoomUpdated{}, &Knock{},
	&LobbyLeft{}, &Muted{}, &Removed{}, &Ended{}, &PublishAnswer{},
	&SubscribeOffer{}, &ICECandidateEvent{}, &Tracks{}, &ActiveSpeakers{},
	&MediaReconnect{}, &Rejoin{}, &MeetingInfo{}, &Presence{}, &AllMuted{},
	&RoomPage{}, &Chat{}, &ChatHistory{}, &Reaction{}, &PublishLayers{},
}

// ErrorFor builds the error event for a refused request.
func ErrorFor(clientID, requestID string, e *Error) *ErrorEvent {
	return &ErrorEvent{Meta: Meta{ID: clientID}, Code: e.Code, Message: e.Message, RequestID: requestID}
}

// ServerEvents returns a fresh value of every server event type.
func ServerEvents() []Event { return append([]Event(nil), serverTypes...) }

// ClientMessages returns a fresh value of every client message type by action.
func ClientMessages() map[Action]ClientMessage {
	out := make(map[Action]ClientMessage, len(clientTypes))
	for a, f := range clientTypes {
		out[a] = f()
	}
	return out
}

func emojis() []string {
	out := make([]string, len(Emojis))
	for i, e := range Emojis {
		out[i] = string(e)
	}
	return out
}

// Enums lists the values of each string enum, for the TypeScript generator.
func Enums() map[string][]string {
	str := func(vs ...any) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = fmt.Sprint(v)
		}
		return out
	}
	return map[string][]string{
		"Role":          str(RoleHost, RoleCohost, RoleParticipant, RoleGuest),
		"Source":        str(SourceMicrophone, SourceCamera, SourceScreen, SourceScreenAudio),
		"PeerTarget":    str(TargetPublish, TargetSubscribe),
		"Emoji":         emojis(),
		"MeetingStatus": str(MeetingOpen, MeetingEnded, MeetingNotFound),
		"LeaveReason":   str(ReasonLeft, ReasonDisconnected, ReasonRemoved, ReasonEnded, ReasonAdmitted, ReasonDenied, ReasonCancelled),
		"Code": str(CodeBadRequest, CodeUnknownAction, CodeMessageTooLarge, CodeFrameTooLarge, CodeRateLimited, CodeFlooding,
			CodeUnauthorized, CodeForbidden, CodeNotFound, CodeNotJoined, CodeLocked, CodeTooSoon, CodeBanned,
			CodeEnded, CodeUnavailable, CodeWrongRegion, CodeInternal, CodeFull, CodeLobbyFull),
	}
}
