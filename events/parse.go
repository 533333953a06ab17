package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
)

// Code is a machine-readable error code; clients switch on it.
type Code string

const (
	CodeBadRequest      Code = "bad_request"       // malformed JSON or invalid field
	CodeUnknownAction   Code = "unknown_action"    // no route for the action
	CodeMessageTooLarge Code = "message_too_large" // over 128 KB
	CodeFrameTooLarge   Code = "frame_too_large"   // a WebSocket frame over 32 KB
	CodeRateLimited     Code = "rate_limited"      // too many messages on this connection
	CodeFlooding        Code = "flooding"          // over the rate limit too long: the connection is closed
	CodeUnauthorized    Code = "unauthorized"      // bad, expired or foreign token
	CodeForbidden       Code = "forbidden"         // the caller's role may not do this
	CodeNotFound        Code = "not_found"         // no such meeting or participant
	CodeNotJoined       Code = "not_joined"        // the action needs a joined participant
	CodeLocked          Code = "locked"            // the meeting refuses new knocks
	CodeTooSoon         Code = "too_soon"          // denied guests wait before knocking again
	CodeBanned          Code = "banned"            // removed from this meeting
	CodeEnded           Code = "ended"             // the meeting is over
	CodeUnavailable     Code = "unavailable"       // no media node can take the meeting now
	CodeWrongRegion     Code = "wrong_region"      // the meeting lives in another region: connect there
	CodeInternal        Code = "internal"          // our fault; retry later
)

// Error is a refusal with a code; handlers return it and the transport turns
// it into an ErrorEvent naming the request.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error, mapping anything else to internal so that
// no detail of an unexpected failure leaks to the client.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// DecodeClient reads one client message, once, for both route selection and
// handling, with the strict rules of strict.go (exact keys, each at most
// once, required fields present), then the message's own checks. head is the
// message's action and id as far as they could be read — an id only when it
// is valid and given once — so that a refusal can name the request.
func DecodeClient(data []byte) (msg ClientMessage, head Request, perr *Error) {
	members, err := readObject(data)
	if err != nil {
		return nil, head, Errorf(CodeBadRequest, "invalid message: %s", err)
	}
	// A key given twice has no one value: neither names the request.
	var action, id json.RawMessage
	count := map[string]int{}
	for _, m := range members {
		count[m.key]++
	}
	for _, m := range members {
		switch {
		case m.key == "action" && count[m.key] == 1:
			action = m.raw
		case m.key == "id" && count[m.key] == 1:
			id = m.raw
		}
	}
	var idStr, act *string
	if id != nil && json.Unmarshal(id, &idStr) == nil && idStr != nil && requestIDRE.MatchString(*idStr) {
		head.ID = *idStr
	}
	if count["action"] > 1 {
		return nil, head, Errorf(CodeBadRequest, "action appears more than once")
	}
	if action == nil {
		return nil, head, Errorf(CodeBadRequest, "action is required")
	}
	if json.Unmarshal(action, &act) != nil || act == nil {
		return nil, head, Errorf(CodeBadRequest, "action must be a string")
	}
	newMsg, ok := clientTypes[Action(*act)]
	if !ok {
		return nil, head, Errorf(CodeUnknownAction, "unknown action %q", clipKey(*act))
	}
	head.Action = Action(*act)
	msg = newMsg()
	if err := fillStruct(members, reflect.ValueOf(msg).Elem(), ""); err != nil {
		return nil, head, Errorf(CodeBadRequest, "invalid %s message: %s", head.Action, err)
	}
	if !requestIDRE.MatchString(msg.Head().ID) {
		return nil, head, Errorf(CodeBadRequest, "id is required: 1-64 characters of [A-Za-z0-9_.:-]")
	}
	if err := msg.validate(); err != nil {
		return nil, head, Errorf(CodeBadRequest, "invalid %s message: %s", head.Action, err)
	}
	return msg, head, nil
}

// ParseClient is DecodeClient without the head.
func ParseClient(data []byte) (ClientMessage, *Error) {
	msg, _, err := DecodeClient(data)
	return msg, err
}

// DecodeCommand reads one command from a node's channel with the strict
// rules. It does not Validate: the node does, and reports a refusal to the
// client the command speaks for.
func DecodeCommand(data []byte) (Command, error) {
	var c Command
	if err := decodeStrict(data, &c); err != nil {
		return Command{}, fmt.Errorf("command: %w", err)
	}
	return c, nil
}
