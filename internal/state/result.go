package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

// Refused is a transition the state refused (the meeting is locked, the caller
// is not a host, …). It wraps the client-facing error; RetryAfterMS is set for
// too_soon.
type Refused struct {
	Err          *events.Error
	RetryAfterMS int64
	// Region is the room's, for wrong_region.
	Region string
}

func (r *Refused) Error() string { return r.Err.Error() }
func (r *Refused) Unwrap() error { return r.Err }

// list decodes a JSON array, and also `{}`: cjson encodes an empty Lua table
// as an object.
type list[T any] []T

func (l *list[T]) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("{}")) {
		*l = nil
		return nil
	}
	return json.Unmarshal(b, (*[]T)(l))
}

type pc struct {
	P   string `json:"p"`
	C   string `json:"c"`
	G   string `json:"g"`
	Seq uint64 `json:"seq"`
}

// result is every field any room script answers.
type result struct {
	Err    string `json:"err"`
	Msg    string `json:"msg"`
	Retry  int64  `json:"retry"`
	Region string `json:"region"`

	Seq          uint64       `json:"seq"`
	At           uint64       `json:"at"`
	Node         string       `json:"node"`
	PrevNode     string       `json:"prevNode"`
	Placed       bool         `json:"placed"`
	Rejoin       bool         `json:"rejoin"`
	Kind         string       `json:"kind"`
	Title        string       `json:"title"`
	Locked       bool         `json:"locked"`
	ChatDisabled bool         `json:"chatDisabled"`
	Participants list[string] `json:"participants"`
	Lobby        list[string] `json:"lobby"`
	Me           string       `json:"me"`
	Target       string       `json:"target"`
	TargetConn   string       `json:"targetConn"`
	Guest        string       `json:"guest"`
	Old          string       `json:"old"`
	Conns        list[pc]     `json:"conns"`
	Mods         list[string] `json:"mods"`
	LobbyConns   list[string] `json:"lobbyConns"`
	Admitted     list[pc]     `json:"admitted"`
	Changed      list[string] `json:"changed"`
	Muted        list[pc]     `json:"muted"`
	Epoch        uint64       `json:"epoch"`
	Unchanged    bool         `json:"unchanged"`
	Meta         *metaResult  `json:"meta"`
	// chat's
	Chat  string       `json:"chat"`
	Chats list[string] `json:"chats"`
	More  bool         `json:"more"`
	// lookup's
	People int          `json:"people"`
	Names  list[string] `json:"names"`
	Role   string       `json:"role"`
	Banned bool         `json:"banned"`
}

// metaResult is the meta() helper's answer (RoomMeta, with cjson's empty
// tables).
type metaResult struct {
	Title   string       `json:"title"`
	Host    string       `json:"host"`
	Region  string       `json:"region"`
	Created int64        `json:"created"`
	Locked  bool         `json:"locked"`
	Seq     uint64       `json:"seq"`
	Cohosts list[string] `json:"cohosts"`
	// ChatDisabled is chat.go's room setting.
	ChatDisabled bool         `json:"chatDisabled"`
	Banned       list[string] `json:"banned"`
}

func (m *metaResult) meta() *events.RoomMeta {
	if m == nil {
		return nil
	}
	out := &events.RoomMeta{Title: m.Title, Host: events.ParticipantID(m.Host), Region: m.Region,
		Created: m.Created, Locked: m.Locked, Seq: m.Seq, ChatDisabled: m.ChatDisabled}
	for _, id := range m.Cohosts {
		out.Cohosts = append(out.Cohosts, events.ParticipantID(id))
	}
	for _, id := range m.Banned {
		out.Banned = append(out.Banned, events.ParticipantID(id))
	}
	sort.Slice(out.Cohosts, func(i, j int) bool { return out.Cohosts[i] < out.Cohosts[j] })
	sort.Slice(out.Banned, func(i, j int) bool { return out.Banned[i] < out.Banned[j] })
	return out
}

// run executes a room script and decodes its answer; a refusal comes back as
// *Refused.
func (s *Store) run(ctx context.Context, sc *redis.Script, code events.RoomCode, args ...any) (*result, error) {
	raw, err := sc.Run(ctx, s.rdb, roomKeys(code), args...).Text()
	if err != nil {
		return nil, fmt.Errorf("state: room %s: %w", code, err)
	}
	var r result
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("state: room %s: bad script answer %q: %w", code, raw, err)
	}
	if r.Err != "" {
		return &r, &Refused{Err: &events.Error{Code: events.Code(r.Err), Message: r.Msg}, RetryAfterMS: r.Retry, Region: r.Region}
	}
	return &r, nil
}

// Target is one connection to push to, and whose it is.
type Target struct {
	Participant events.ParticipantID
	Conn        events.ConnRef
}

func connRef(s string) (events.ConnRef, bool) {
	var c events.ConnRef
	if s == "" || json.Unmarshal([]byte(s), &c) != nil || c.ConnectionID == "" {
		return c, false
	}
	return c, true
}

func targets(l list[pc]) []Target {
	out := make([]Target, 0, len(l))
	for _, x := range l {
		if c, ok := connRef(x.C); ok {
			out = append(out, Target{Participant: events.ParticipantID(x.P), Conn: c})
		}
	}
	return out
}

func refs(l list[string]) []events.ConnRef {
	out := make([]events.ConnRef, 0, len(l))
	for _, s := range l {
		if c, ok := connRef(s); ok {
			out = append(out, c)
		}
	}
	return out
}

func participant(s string) (events.Participant, error) {
	var p events.Participant
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return p, fmt.Errorf("state: bad participant %q: %w", s, err)
	}
	return p, nil
}

func guest(s string) (events.Guest, error) {
	var g events.Guest
	if err := json.Unmarshal([]byte(s), &g); err != nil {
		return g, fmt.Errorf("state: bad guest %q: %w", s, err)
	}
	return g, nil
}

func (r *result) room(code events.RoomCode) (events.Room, error) {
	room := events.Room{Code: code, Title: r.Title, Locked: r.Locked, ChatDisabled: r.ChatDisabled, Seq: r.Seq,
		Participants: []events.Participant{}, Lobby: []events.Guest{}}
	for _, s := range r.Participants {
		p, err := participant(s)
		if err != nil {
			return room, err
		}
		room.Participants = append(room.Participants, p)
	}
	for _, s := range r.Lobby {
		g, err := guest(s)
		if err != nil {
			return room, err
		}
		room.Lobby = append(room.Lobby, g)
	}
	sortRoom(&room)
	return room, nil
}

// IsRefused reports whether err is a refusal with code.
func IsRefused(err error, code events.Code) bool {
	var r *Refused
	return errors.As(err, &r) && r.Err.Code == code
}

func asRefused(err error, r **Refused) bool { return errors.As(err, r) }
