package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

const (
	// RoomTTL: every key of a room expires this long after the last change or
	// ping in it, so a meeting nobody joined (or everybody left) is forgotten.
	RoomTTL = 24 * time.Hour
	// DenyCooldown is how long a denied guest waits before knocking again.
	DenyCooldown = 30 * time.Second
	// DefaultMaxParticipants and DefaultMaxLobby are a meeting's caps unless
	// the deployment sets others (lambdas.Deps): as many as Meet and Zoom
	// hold in one interactive meeting, and a lobby a host can still read.
	DefaultMaxParticipants = 1000
	DefaultMaxLobby        = 200
)

// Served is where a room's media is: its node and placement epoch ("" when
// the room has none: nobody is in it). Changes are pushed from there.
type Served struct {
	Node  events.NodeID
	Epoch uint64
}

// Create records a new meeting hosted by host and returns its code. It draws
// a fresh code until one is free.
func (s *Store) Create(ctx context.Context, title string, host events.ParticipantID, region string) (events.RoomCode, error) {
	for range 5 {
		code := events.NewRoomCode()
		_, err := s.run(ctx, createScript, code, title, string(host), time.Now().UnixMilli(), region)
		if IsRefused(err, "exists") {
			continue
		}
		return code, err
	}
	return "", fmt.Errorf("state: no free meeting code after 5 tries")
}

// Meeting is what a knocking guest may learn about a meeting.
type Meeting struct {
	Code   events.RoomCode
	Title  string
	Node   events.NodeID
	Region string
	Locked bool
	Ended  bool
	Host   events.ParticipantID
}

// Meeting returns a meeting's settings, or a not_found refusal.
func (s *Store) Meeting(ctx context.Context, code events.RoomCode) (*Meeting, error) {
	v, err := s.rdb.HMGet(ctx, roomKey(code), "title", "node", "region", "locked", "ended", "host").Result()
	if err != nil {
		return nil, fmt.Errorf("state: room %s: %w", code, err)
	}
	if v[5] == nil {
		return nil, &Refused{Err: events.Errorf(events.CodeNotFound, "no such meeting")}
	}
	str := func(i int) string { x, _ := v[i].(string); return x }
	return &Meeting{Code: code, Title: str(0), Node: events.NodeID(str(1)), Region: str(2),
		Locked: str(3) == "1", Ended: str(4) == "1", Host: events.ParticipantID(str(5))}, nil
}

// JoinInput is who joins, from where, as what.
type JoinInput struct {
	Code events.RoomCode
	Conn events.ConnRef
	// Participant is the person as they will appear; Role comes from their
	// token and is overridden by a role the host gave them in this meeting.
	Participant events.Participant
	// Region places a room that has no live node yet.
	Region string
	// MaxParticipants caps the meeting (0 = DefaultMaxParticipants): a
	// newcomer past it is refused full.
	MaxParticipants int
}

// JoinResult is what a join changed.
type JoinResult struct {
	Me     events.Participant
	Room   events.Room // lobby filled for hosts and co-hosts
	Node   events.NodeID
	Placed bool // the room was (re)placed on Node by this join
	// PrevNode is the node the room had before ("" for a first placement).
	PrevNode events.NodeID
	// Rejoin: the participant was already in (a reload); others get an
	// update, not a second "joined".
	Rejoin bool
	// Replaced is the participant's previous connection, now superseded.
	Replaced *events.ConnRef
	// Others is everyone else's connection, only when the join moved the
	// room off a dead node (PrevNodeDead): they must follow it.
	Others []Target
	// Epoch is the room's placement epoch on Node.
	Epoch uint64
	// Unchanged: a rejoin that changed nothing others see (no seq moved).
	Unchanged bool
	// Meta is the room's settings, for the node's copy.
	Meta *events.RoomMeta
	// Log is the room's log position Room is at (events.Command.Log).
	Log LogID
}

// Join seats a participant holding a valid token and places the room on a
// node if it has no live one: the room's node when it is alive, else the
// least-loaded serving node of the region. Placement is a compare-and-set on
// the room, so concurrent first joins agree on one node.
func (s *Store) Join(ctx context.Context, in JoinInput) (*JoinResult, error) {
	pj, _ := json.Marshal(in.Participant)
	cj, _ := json.Marshal(in.Conn)
	for range 5 {
		cur, err := s.rdb.HGet(ctx, roomKey(in.Code), "node").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("state: room %s: %w", in.Code, err)
		}
		alive, err := s.nodeAlive(ctx, events.NodeID(cur))
		if err != nil {
			return nil, err
		}
		candidate := events.NodeID("")
		if !alive {
			if candidate, err = s.pickNode(ctx, in.Region); err != nil {
				return nil, err
			}
		}
		r, err := s.run(ctx, joinScript, in.Code, string(in.Participant.ID), cj, string(in.Conn.ConnectionID),
			pj, cur, b2s(alive), string(candidate), time.Now().UnixMilli(), in.Region, orDefault(in.MaxParticipants, DefaultMaxParticipants))
		if IsRefused(err, "retry") {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.Placed {
			s.chargeNode(ctx, in.Region, candidate)
			s.notePlacement(ctx, candidate, in.Code)
		}
		out := &JoinResult{Node: events.NodeID(r.Node), Placed: r.Placed, Rejoin: r.Rejoin, PrevNode: events.NodeID(r.PrevNode),
			Others: targets(r.Conns), Epoch: r.Epoch, Unchanged: r.Unchanged, Meta: r.Meta.meta()}
		if out.Me, err = participant(r.Me); err != nil {
			return nil, err
		}
		if out.Room, err = r.room(in.Code); err != nil {
			return nil, err
		}
		if out.Log, err = ParseLogID(r.Log); err != nil {
			return nil, err
		}
		if c, ok := connRef(r.Old); ok {
			out.Replaced = &c
		}
		return out, nil
	}
	return nil, fmt.Errorf("state: room %s: placement kept changing", in.Code)
}

// KnockResult is what a knock changed.
type KnockResult struct {
	Served
	Title string
	// Moderators is how many hosts and co-hosts are in to answer it.
	Moderators int
	// Again: the guest was waiting already (a new socket, a re-knock); the
	// hosts were told at the first knock.
	Again bool
}

// lobbyConn is a waiting guest's connection and where it comes from; the
// source stays in Redis (hosts never see it).
type lobbyConn struct {
	events.ConnRef
	Source string `json:"src,omitempty"`
}

// Knock puts a guest in the lobby, unless maxLobby (0 = DefaultMaxLobby)
// are waiting already (lobby_full). source is where the guest connects from
// ("" when unknown): a deny holds off that source as well as the guest id for
// DenyCooldown, since a reload is a new connection and so a new guest id.
func (s *Store) Knock(ctx context.Context, code events.RoomCode, g events.Guest, conn events.ConnRef, source, region string, maxLobby int) (*KnockResult, error) {
	gj, _ := json.Marshal(g)
	cj, _ := json.Marshal(lobbyConn{ConnRef: conn, Source: source})
	r, err := s.run(ctx, knockScript, code, string(g.ID), gj, cj, string(conn.ConnectionID), time.Now().UnixMilli(), source, region,
		orDefault(maxLobby, DefaultMaxLobby))
	if err != nil {
		return nil, err
	}
	return &KnockResult{Served: r.served(), Title: r.Title, Moderators: r.Moderators, Again: r.Rejoin}, nil
}

// Waiting reports whether guest is in code's lobby now.
func (s *Store) Waiting(ctx context.Context, code events.RoomCode, guest events.ParticipantID) (bool, error) {
	ok, err := s.rdb.HExists(ctx, lobbyKey(code), string(guest)).Result()
	if err != nil {
		return false, fmt.Errorf("state: lobby of %s: %w", code, err)
	}
	return ok, nil
}

// Admission is one guest let in.
type Admission struct {
	Guest events.Guest
	Conn  events.ConnRef // empty ConnectionID when the guest's socket is unknown
}

// Admit takes guest (or, when guest is "", everyone waiting) out of the lobby,
// exactly once: of two hosts admitting the same guest at once, one gets a
// not_found refusal. Only as many are let in as the meeting has free seats
// under maxParticipants (0 = DefaultMaxParticipants): none free is a full
// refusal; admit_all takes the longest waiting first.
func (s *Store) Admit(ctx context.Context, code events.RoomCode, by events.ParticipantID, conn events.ConnectionID, guestID events.ParticipantID, maxParticipants int) ([]Admission, Served, error) {
	r, err := s.run(ctx, admitScript, code, string(by), string(conn), string(guestID), orDefault(maxParticipants, DefaultMaxParticipants))
	if err != nil {
		return nil, Served{}, err
	}
	var admitted []Admission
	for _, a := range r.Admitted {
		g, err := guest(a.G)
		if err != nil {
			return nil, Served{}, err
		}
		c, _ := connRef(a.C)
		admitted = append(admitted, Admission{Guest: g, Conn: c})
	}
	return admitted, r.served(), nil
}

// Deny turns a guest, and the source it knocked from, away for DenyCooldown.
func (s *Store) Deny(ctx context.Context, code events.RoomCode, by events.ParticipantID, conn events.ConnectionID, guestID events.ParticipantID) (Admission, Served, error) {
	until := time.Now().Add(DenyCooldown).UnixMilli()
	r, err := s.run(ctx, denyScript, code, string(by), string(conn), string(guestID), until)
	if err != nil {
		return Admission{}, Served{}, err
	}
	g, err := guest(r.Guest)
	c, _ := connRef(r.TargetConn)
	return Admission{Guest: g, Conn: c}, r.served(), err
}

// LeaveKind says what a leave took away.
type LeaveKind string

const (
	LeftNothing LeaveKind = "none" // the connection held no seat (replaced, or already gone)
	LeftSeat    LeaveKind = "participant"
	LeftLobby   LeaveKind = "lobby"
)

// LeaveResult is what a leave changed.
type LeaveResult struct {
	Kind  LeaveKind
	Seq   uint64
	Node  events.NodeID
	Epoch uint64
	// Handover is the participant made co-host because the last host and
	// co-host left (at HandoverSeq); Meta the room's settings after it.
	Handover    *events.Participant
	HandoverSeq uint64
	Meta        *events.RoomMeta
}

// Leave frees the seat or lobby place that conn holds for pid, for reason
// (what the others are told; a guest's lobby place goes as cancelled, or
// disconnected). A connection that no longer holds it (replaced by a
// reload) changes nothing.
func (s *Store) Leave(ctx context.Context, code events.RoomCode, pid events.ParticipantID, conn events.ConnectionID, reason events.LeaveReason) (*LeaveResult, error) {
	lobby := events.ReasonCancelled
	if reason == events.ReasonDisconnected {
		lobby = reason
	}
	r, err := s.run(ctx, leaveScript, code, string(pid), string(conn), string(reason), string(lobby))
	if err != nil {
		return nil, err
	}
	out := &LeaveResult{Kind: LeaveKind(r.Kind), Seq: r.Seq, Node: events.NodeID(r.Node), Epoch: r.Epoch}
	if r.Target != "" {
		p, err := participant(r.Target)
		if err != nil {
			return nil, err
		}
		out.Handover, out.HandoverSeq, out.Meta = &p, r.At, r.Meta.meta()
	}
	return out, nil
}

// Change is a presence change to broadcast.
type Change struct {
	Seq uint64
	// At is the room's seq as of this change: Seq when something changed,
	// the current seq when nothing did. It orders the media commands the
	// change sends (events.Command.Seq).
	At     uint64
	Node   events.NodeID
	Epoch  uint64
	Target events.Participant
	// TargetConn is the target's connection (for Muted, Removed).
	TargetConn events.ConnRef
	// Meta is the room's settings after a change of them (lock, role,
	// removal), for the node's copy; nil otherwise.
	Meta *events.RoomMeta
}

func (r *result) change() (*Change, error) {
	c := &Change{Seq: r.Seq, At: r.At, Node: events.NodeID(r.Node), Epoch: r.Epoch, Meta: r.Meta.meta()}
	c.TargetConn, _ = connRef(r.TargetConn)
	if r.Target != "" {
		p, err := participant(r.Target)
		if err != nil {
			return nil, err
		}
		c.Target = p
	}
	return c, nil
}

// Remove takes a participant out and bans their id from the meeting.
func (s *Store) Remove(ctx context.Context, code events.RoomCode, by events.ParticipantID, conn events.ConnectionID, target events.ParticipantID) (*Change, error) {
	r, err := s.run(ctx, removeScript, code, string(by), string(conn), string(target))
	if err != nil {
		return nil, err
	}
	return r.change()
}

// Patch is a participant's change to their own state; nil is unchanged.
type Patch struct {
	MicOn      *bool   `json:"micOn,omitempty"`
	CamOn      *bool   `json:"camOn,omitempty"`
	ScreenOn   *bool   `json:"screenOn,omitempty"`
	HandRaised *bool   `json:"handRaised,omitempty"`
	Name       *string `json:"name,omitempty"`
}

// UpdateResult is an update's effect; Seq is 0 when nothing changed.
type UpdateResult struct {
	Change
	Changed []string // the fields that changed: micOn, camOn, screenOn, handRaised, name
}

// Update changes the caller's own state.
func (s *Store) Update(ctx context.Context, code events.RoomCode, pid events.ParticipantID, conn events.ConnectionID, p Patch) (*UpdateResult, error) {
	pj, _ := json.Marshal(p)
	r, err := s.run(ctx, updateScript, code, string(pid), string(conn), pj, time.Now().UnixMilli())
	if err != nil {
		return nil, err
	}
	r.Target = r.Me
	c, err := r.change()
	if err != nil {
		return nil, err
	}
	return &UpdateResult{Change: *c, Changed: r.Changed}, nil
}

// stateField is the participant field a source turns on and off.
func stateField(src events.Source) string {
	switch src {
	case events.SourceMicrophone:
		return "micOn"
	case events.SourceCamera:
		return "camOn"
	case events.SourceScreen:
		return "screenOn"
	}
	return ""
}

// Mute turns a participant's source off. Seq is 0 when it already was.
func (s *Store) Mute(ctx context.Context, code events.RoomCode, by events.ParticipantID, conn events.ConnectionID, target events.ParticipantID, src events.Source) (*Change, error) {
	r, err := s.run(ctx, muteScript, code, string(by), string(conn), string(target), stateField(src))
	if err != nil {
		return nil, err
	}
	return r.change()
}

// MuteAllResult is a mute_all: one change (all_muted at Seq), however many
// microphones it turned off (Muted); none, and Seq is the room's current
// seq with nothing logged.
type MuteAllResult struct {
	Served
	Seq   uint64
	Muted int
}

// MuteAll turns off every open microphone but the caller's.
func (s *Store) MuteAll(ctx context.Context, code events.RoomCode, by events.ParticipantID, conn events.ConnectionID) (*MuteAllResult, error) {
	r, err := s.run(ctx, muteAllScript, code, string(by), string(conn))
	if err != nil {
		return nil, err
	}
	return &MuteAllResult{Served: r.served(), Seq: r.Seq, Muted: int(r.At)}, nil
}

// SetRole promotes a participant to co-host or demotes one (host only);
// Seq is 0 when the role was already that. For a co-host it also returns
// the room with its lobby (what the new co-host must now see).
func (s *Store) SetRole(ctx context.Context, code events.RoomCode, by events.ParticipantID, conn events.ConnectionID, target events.ParticipantID, role events.Role) (*Change, *events.Room, error) {
	r, err := s.run(ctx, setRoleScript, code, string(by), string(conn), string(target), string(role))
	if err != nil {
		return nil, nil, err
	}
	seq := r.At
	r.Seq, r.At = seq, seq
	c, err := r.change()
	if err != nil || role != events.RoleCohost {
		return c, nil, err
	}
	room, err := r.room(code)
	return c, &room, err
}

// Lock locks or unlocks the lobby; Seq is 0 when nothing changed.
func (s *Store) Lock(ctx context.Context, code events.RoomCode, by events.ParticipantID, conn events.ConnectionID, locked bool) (*Change, error) {
	r, err := s.run(ctx, lockScript, code, string(by), string(conn), b2s(locked))
	if err != nil {
		return nil, err
	}
	return r.change()
}

// EndResult is everyone a meeting's end concerns.
type EndResult struct {
	Seq        uint64
	Node       events.NodeID
	Epoch      uint64
	Others     []Target         // every participant's connection, the caller's included
	LobbyConns []events.ConnRef // waiting guests
}

// End ends the meeting for everyone; later joins are refused with ended.
func (s *Store) End(ctx context.Context, code events.RoomCode, by events.ParticipantID, conn events.ConnectionID) (*EndResult, error) {
	r, err := s.run(ctx, endScript, code, string(by), string(conn))
	if err != nil {
		return nil, err
	}
	return &EndResult{Seq: r.Seq, Node: events.NodeID(r.Node), Epoch: r.Epoch, Others: targets(r.Conns), LobbyConns: refs(r.LobbyConns)}, nil
}

// Snapshot returns the room as pid sees it (lobby for moderators).
func (s *Store) Snapshot(ctx context.Context, code events.RoomCode, pid events.ParticipantID, conn events.ConnectionID) (events.Room, error) {
	r, err := s.run(ctx, snapshotScript, code, string(pid), string(conn))
	if err != nil {
		return events.Room{}, err
	}
	return r.room(code)
}

// Participants returns every participant connection of a room (the local
// stack's tests look; handlers get them from the scripts).
func (s *Store) Participants(ctx context.Context, code events.RoomCode) ([]Target, error) {
	m, err := s.rdb.HGetAll(ctx, connsKey(code)).Result()
	if err != nil {
		return nil, err
	}
	l := make(list[pc], 0, len(m))
	for p, c := range m {
		l = append(l, pc{P: p, C: c})
	}
	return targets(l), nil
}

func sortRoom(r *events.Room) {
	sort.Slice(r.Participants, func(i, j int) bool {
		a, b := r.Participants[i], r.Participants[j]
		if a.JoinedAt != b.JoinedAt {
			return a.JoinedAt < b.JoinedAt
		}
		return a.ID < b.ID
	})
	sort.Slice(r.Lobby, func(i, j int) bool { return r.Lobby[i].KnockedAt < r.Lobby[j].KnockedAt })
}

func orDefault(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

func b2s(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// PrevNodeDead reports whether the join moved the room off a node that had
// it (that node's heartbeat expired).
func (r *JoinResult) PrevNodeDead() bool { return r.Placed && r.PrevNode != "" }

// AwayGrace is how long a participant whose socket dropped keeps their seat
// (shown as reconnecting) before they leave, as Meet keeps a tile through a
// network blip.
const AwayGrace = 60 * time.Second

// Away marks the participant that conn seats as reconnecting, for grace (0 =
// AwayGrace): their socket dropped. It reports the change to broadcast, or
// nil when conn held no seat (a lobby place, a socket a reload replaced,
// nothing).
func (s *Store) Away(ctx context.Context, code events.RoomCode, pid events.ParticipantID, conn events.ConnectionID, grace time.Duration) (*Change, error) {
	if grace <= 0 {
		grace = AwayGrace
	}
	until := time.Now().Add(grace).UnixMilli()
	r, err := s.run(ctx, awayScript, code, string(pid), string(conn), until)
	if err != nil || r.Kind != "away" {
		return nil, err
	}
	return r.change()
}

// Expired is a participant whose reconnecting time ran out, or, with
// Handover set, the one made co-host at Seq because that was the last host
// or co-host; Meta is then the room's settings after it (for the node's
// copy, which a rebuild after a Redis loss starts from).
type Expired struct {
	Participant events.ParticipantID
	Seq         uint64
	Handover    *events.Participant
	Meta        *events.RoomMeta
}

// ExpireAway takes out the participants of a room whose reconnecting time
// ran out (their leaves are in the room's log, for the node to push).
func (s *Store) ExpireAway(ctx context.Context, code events.RoomCode) ([]Expired, error) {
	r, err := s.run(ctx, expireAwayScript, code, time.Now().UnixMilli())
	if err != nil || len(r.Muted) == 0 {
		return nil, err
	}
	out := make([]Expired, 0, len(r.Muted))
	for _, m := range r.Muted {
		if m.G != "" {
			p, err := participant(m.G)
			if err != nil {
				return nil, err
			}
			out = append(out, Expired{Participant: p.ID, Seq: m.Seq, Handover: &p, Meta: r.Meta.meta()})
			continue
		}
		out = append(out, Expired{Participant: events.ParticipantID(m.P), Seq: m.Seq})
	}
	return out, nil
}

// Lookup is what a pre-join page may know of a meeting (see lookupScript).
type Lookup struct {
	Status     events.MeetingStatus
	Title      string
	Locked     bool
	People     int
	Names      []string
	Moderators int
	// Region is where the meeting lives.
	Region string
	// Role is a role the host gave the asking participant ("" = none);
	// Banned says they were removed; RetryAfter a denial's cool-down left.
	Role       events.Role
	Banned     bool
	RetryAfter time.Duration
}

// Lookup reads a meeting for a pre-join page; pid and guest say who asks
// (either may be "").
func (s *Store) Lookup(ctx context.Context, code events.RoomCode, pid, guest events.ParticipantID) (*Lookup, error) {
	r, err := s.run(ctx, lookupScript, code, string(pid), string(guest), time.Now().UnixMilli())
	if err != nil {
		return nil, err
	}
	switch r.Kind {
	case "not_found":
		return &Lookup{Status: events.MeetingNotFound}, nil
	case "ended":
		return &Lookup{Status: events.MeetingEnded, Title: r.Title}, nil
	}
	out := &Lookup{Status: events.MeetingOpen, Title: r.Title, Locked: r.Locked, People: r.People,
		Names: []string(r.Names), Moderators: r.Moderators, Role: events.Role(r.Role), Banned: r.Banned, Region: r.Region,
		RetryAfter: time.Duration(r.Retry) * time.Millisecond}
	if out.Names == nil {
		out.Names = []string{}
	}
	return out, nil
}
