package events

import "fmt"

// CommandType names a command to an SFU node.
type CommandType string

const (
	// CmdJoin: a participant was let into a room on this node. The node sets
	// up its subscribe PeerConnection, sends a SubscribeOffer when there are
	// tracks to forward, and waits for the participant's PublishOffer.
	CmdJoin            CommandType = "join"
	CmdPublishOffer    CommandType = "publish_offer"
	CmdSubscribeAnswer CommandType = "subscribe_answer"
	CmdCandidate       CommandType = "candidate"
	// CmdLeave closes the participant's PeerConnections and stops forwarding
	// their tracks (leave, disconnect, remove).
	CmdLeave CommandType = "leave"
	// CmdSetMuted starts or stops forwarding one source of a participant.
	CmdSetMuted CommandType = "set_muted"
	// CmdCloseRoom closes everyone's media in a room (meeting ended).
	CmdCloseRoom CommandType = "close_room"
	// CmdRoomMeta brings the node's copy of the room's settings up to date
	// (lock, roles, bans), from which it rebuilds the room if Redis loses it.
	CmdRoomMeta CommandType = "room_meta"
	// CmdPresence wakes the node: the room's presence log has changes to
	// push to its participants (sent when a change needs no other command).
	// Any command for a room wakes it the same way.
	CmdPresence CommandType = "presence"
	// CmdMuteAll stops forwarding every microphone of the room but
	// Participant's (the host who asked), as of Seq.
	CmdMuteAll CommandType = "mute_all"
)

// RoomMeta is what a node keeps of a room's settings besides its media: what
// it takes to rebuild the meeting if Redis loses it, so that a removal or a
// demotion outlives the token that carried the old role.
type RoomMeta struct {
	Title   string        `json:"title"`
	Host    ParticipantID `json:"host"`
	Region  string        `json:"region,omitempty"`
	Created int64         `json:"created,omitempty"` // Unix ms
	Locked  bool          `json:"locked,omitempty"`
	// ChatDisabled: only hosts and co-hosts may chat (SetChatRequest).
	ChatDisabled bool            `json:"chatDisabled,omitempty"`
	Cohosts      []ParticipantID `json:"cohosts,omitempty"`
	Banned       []ParticipantID `json:"banned,omitempty"`
	// Seq is the room's sequence number as of this copy.
	Seq uint64 `json:"seq,omitempty"`
}

// ConnRef says where to push events for a participant: their WebSocket
// connection and the `@connections` endpoint of the API that holds it
// (https://{api-id}.execute-api.{region}.amazonaws.com/{stage}, or the local
// gateway's URL).
type ConnRef struct {
	ConnectionID ConnectionID `json:"connectionId"`
	Endpoint     string       `json:"endpoint"`
}

// Command is one instruction to an SFU node, carried on the node's command
// channel. One flat shape keeps the channel simple; Type says which fields
// are set.
type Command struct {
	Type        CommandType   `json:"type" veet:"required"`
	Room        RoomCode      `json:"room" veet:"required"`
	Participant ParticipantID `json:"participant,omitempty"`
	Conn        ConnRef       `json:"conn,omitempty"`
	// RequestID is the client's request id, so the node's reply (a
	// PublishAnswer, or an error) names it.
	RequestID string `json:"requestId,omitempty"`
	// GatewayRequestID is API Gateway's id of the message, for error events.
	GatewayRequestID string        `json:"gatewayRequestId,omitempty"`
	SDP              string        `json:"sdp,omitempty"`
	Tracks           []TrackInfo   `json:"tracks,omitempty"`
	Target           PeerTarget    `json:"target,omitempty"`
	Candidate        *ICECandidate `json:"candidate,omitempty"`
	Source           Source        `json:"source,omitempty"`
	Muted            bool          `json:"muted,omitempty"`
	// Muted sources at join, so forwarding starts in the right state.
	MutedSources []Source `json:"mutedSources,omitempty"`
	// Seq is the room's sequence number as of the state a join or set_muted
	// carries out. Separate Lambdas queue a host's mute and a participant's
	// own unmute, so they may reach the node in either order; the node
	// ignores a set_muted older than the last it applied for that source.
	// Zero means unordered (applied as it comes).
	Seq uint64 `json:"seq,omitempty"`
	// Epoch is the room's placement epoch the sender saw: a node ignores a
	// command of an older epoch than the room's on the node, and a join of a
	// newer one starts the room afresh (it was placed here again). Zero is
	// unfenced.
	Epoch uint64 `json:"epoch,omitempty"`
	// Session is the participant's media session (JoinRequest.Session).
	Session string `json:"session,omitempty"`
	// Resume: the join means to keep Session's media (JoinRequest.Resume).
	Resume bool `json:"resume,omitempty"`
	// OfferID names the subscribe offer a subscribe_answer answers.
	OfferID string `json:"offerId,omitempty"`
	// Sizes is a subscriber's video_sizes (CmdVideoSizes).
	Sizes []VideoSize `json:"sizes,omitempty"`
	// Meta is the room's settings (join and room_meta).
	Meta *RoomMeta `json:"meta,omitempty"`
	// Log is the room's presence log position (a Redis stream id) as of the
	// state a join carries: the room as the joined reply shows it. The node
	// pushes the participant the log's changes after it.
	Log string `json:"log,omitempty"`
	// SentAt is the sender's clock (Unix ms), for latency figures and for
	// dropping media commands that waited too long to matter.
	SentAt int64 `json:"sentAt"`
}

// Validate checks that a command has the fields its type needs; a node
// refuses (and reports) a command that fails it rather than guessing.
func (c *Command) Validate() error {
	if !c.Room.Valid() {
		return fmt.Errorf("command %s: bad room %q", c.Type, c.Room)
	}
	needParticipant := func() error {
		if !c.Participant.Valid() {
			return fmt.Errorf("command %s: bad participant %q", c.Type, c.Participant)
		}
		return nil
	}
	switch c.Type {
	case CmdJoin:
		if c.Conn.ConnectionID == "" || c.Conn.Endpoint == "" {
			return fmt.Errorf("command join: connection and endpoint are required")
		}
		return needParticipant()
	case CmdPublishOffer, CmdSubscribeAnswer:
		if err := checkSDP(c.SDP); err != nil {
			return fmt.Errorf("command %s: %w", c.Type, err)
		}
		if err := checkSession(c.Session); err != nil {
			return fmt.Errorf("command %s: %w", c.Type, err)
		}
		return needParticipant()
	case CmdCandidate:
		if c.Candidate == nil || (c.Target != TargetPublish && c.Target != TargetSubscribe) {
			return fmt.Errorf("command candidate: target and candidate are required")
		}
		if err := checkSession(c.Session); err != nil {
			return fmt.Errorf("command candidate: %w", err)
		}
		return needParticipant()
	case CmdLeave:
		return needParticipant()
	case CmdSetMuted:
		if !c.Source.Valid() {
			return fmt.Errorf("command set_muted: bad source %q", c.Source)
		}
		return needParticipant()
	case CmdVideoSizes:
		if err := checkSession(c.Session); err != nil {
			return fmt.Errorf("command video_sizes: %w", err)
		}
		if err := CheckVideoSizes(c.Sizes); err != nil {
			return fmt.Errorf("command video_sizes: %w", err)
		}
		return needParticipant()
	case CmdCloseRoom, CmdPresence:
		return nil
	case CmdMuteAll:
		return needParticipant()
	case CmdRoomMeta:
		if c.Meta == nil {
			return fmt.Errorf("command room_meta: meta is required")
		}
		return nil
	}
	return fmt.Errorf("unknown command type %q", c.Type)
}

// NodeState is an SFU node's lifecycle state.
type NodeState string

const (
	NodeServing  NodeState = "serving"
	NodeDraining NodeState = "draining" // takes no new rooms
)

// NodeLoad is what a node reports with each heartbeat.
type NodeLoad struct {
	Rooms        int     `json:"rooms"`
	Participants int     `json:"participants"`
	Tracks       int     `json:"tracks"`
	BitrateBps   int64   `json:"bitrateBps"` // forwarded, all subscribers
	CPU          float64 `json:"cpu"`        // 0..1 of the node's cores
	// CommandLagMs is the longest a command waited between its sender
	// (SentAt) and the node handling it, since the node's metrics were
	// last published (sfu/cmd/sfu/metrics.go).
	CommandLagMs int64 `json:"commandLagMs"`
}

// NodeInfo is a node's entry in the registry.
type NodeInfo struct {
	ID        NodeID    `json:"id"`
	Region    string    `json:"region"`
	State     NodeState `json:"state"`
	Load      NodeLoad  `json:"load"`
	UpdatedAt int64     `json:"updatedAt"` // Unix ms
	// HealthySince is when the node's unbroken run of heartbeats began (Unix
	// ms). Only a node that has been beating for longer than a heartbeat TTL
	// may declare another dead: right after a Redis outage every entry has
	// expired, and nobody may be judged by a registry nobody could write.
	HealthySince int64 `json:"healthySince,omitempty"`
}

// Score orders nodes for placement: lower is less loaded. Participants
// dominate the cost of a room; CPU breaks ties and catches hot nodes.
func (l NodeLoad) Score() float64 {
	return float64(l.Participants) + 100*l.CPU
}
