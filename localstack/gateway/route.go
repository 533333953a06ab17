package gateway

import (
	"bytes"
	"encoding/json"
)

// bodyAction reads `$request.body.action` from a message: the value of the
// top-level key "action", compared byte for byte after JSON unescaping (so
// "Action" is another key, and "\u0061ction" is this one), the last
// occurrence when the key repeats (as a JSON object model that keeps the
// last member, which is what Jackson — API Gateway runs on the JVM — does by
// default), and only when that value is a string: a number, object or null
// names no route. ok is false for anything that is not one JSON object.
//
// API Gateway does not document repeated keys or non-string values; the
// handlers refuse both (bad_request) wherever they are routed, so the
// answer a client gets does not depend on this choice.
func bodyAction(body []byte) (action string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return "", false
	}
	if d, isDelim := tok.(json.Delim); !isDelim || d != '{' {
		return "", false
	}
	var last json.RawMessage
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", false
		}
		if key == "action" {
			last = raw
		}
	}
	if _, err := dec.Token(); err != nil {
		return "", false
	}
	var s *string
	if last == nil || json.Unmarshal(last, &s) != nil || s == nil {
		return "", true
	}
	return *s, true
}
