package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	CodeUnauthorized    Code = "unauthorized"      // bad, expired or foreign token
	CodeForbidden       Code = "forbidden"         // the caller's role may not do this
	CodeNotFound        Code = "not_found"         // no such meeting or participant
	CodeNotJoined       Code = "not_joined"        // the action needs a joined participant
	CodeLocked          Code = "locked"            // the meeting refuses new knocks
	CodeTooSoon         Code = "too_soon"          // denied guests wait before knocking again
	CodeBanned          Code = "banned"            // removed from this meeting
	CodeEnded           Code = "ended"             // the meeting is over
	CodeUnavailable     Code = "unavailable"       // no media node can take the meeting now
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

// PeekRequest reads only the action and id of a raw message, for route
// selection and for naming the request in an error. It never fails: missing
// or odd fields come back empty.
func PeekRequest(data []byte) Request {
	var r struct {
		Action any `json:"action"`
		ID     any `json:"id"`
	}
	_ = json.Unmarshal(data, &r)
	var out Request
	if s, ok := r.Action.(string); ok && len(s) <= 64 {
		out.Action = Action(s)
	}
	if s, ok := r.ID.(string); ok && requestIDRE.MatchString(s) {
		out.ID = s
	}
	return out
}

// ParseClient decodes and validates one client message. Unknown fields are
// refused so that a typo is an error, not a silently ignored setting.
func ParseClient(data []byte) (ClientMessage, *Error) {
	head := PeekRequest(data)
	newMsg, ok := clientTypes[head.Action]
	if !ok {
		if head.Action == "" {
			var probe map[string]json.RawMessage
			if json.Unmarshal(data, &probe) != nil {
				return nil, Errorf(CodeBadRequest, "message is not a JSON object")
			}
			return nil, Errorf(CodeBadRequest, "action is required")
		}
		return nil, Errorf(CodeUnknownAction, "unknown action %q", head.Action)
	}
	msg := newMsg()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(msg); err != nil {
		return nil, Errorf(CodeBadRequest, "invalid %s message: %s", head.Action, jsonProblem(err))
	}
	if dec.More() {
		return nil, Errorf(CodeBadRequest, "trailing data after the JSON object")
	}
	if !requestIDRE.MatchString(msg.Head().ID) {
		return nil, Errorf(CodeBadRequest, "id is required: 1-64 characters of [A-Za-z0-9_.:-]")
	}
	if err := msg.validate(); err != nil {
		return nil, Errorf(CodeBadRequest, "invalid %s message: %s", head.Action, err)
	}
	return msg, nil
}

// jsonProblem phrases a decoding error without echoing the client's bytes.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
	default:
		msg := err.Error()
		if len(msg) > 120 {
			msg = msg[:120]
		}
		return msg
	}
}
