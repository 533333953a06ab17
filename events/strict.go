package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// The strict decoder reads JSON into the protocol's structs the way the
// protocol is written, not the way encoding/json is lenient:
//
//   - a key must equal a field's json name exactly (encoding/json also takes
//     "Action" or "MICON" for "action" and "micOn");
//   - a key may appear once in an object (encoding/json keeps the last);
//   - a key that names no field is refused;
//   - a field tagged `veet:"required"` must be present;
//   - null is refused, except for pointer fields, where it means absent;
//   - one JSON value, nothing after it.
//
// It is driven by the struct tags alone, so a field added later is read the
// same way without touching this file. Values of leaf types (strings,
// numbers, booleans and named types of them) are decoded by encoding/json;
// objects (structs and maps) and arrays of them are walked here, so the
// rules hold at every depth.

// strictError is a decoding refusal; its text echoes no value of the
// input, and a key only clipped to 40 bytes.
type strictError struct{ msg string }

func (e *strictError) Error() string { return e.msg }

func strictf(format string, args ...any) error { return &strictError{fmt.Sprintf(format, args...)} }

// field is one JSON key of a struct.
type field struct {
	name     string
	index    []int
	required bool
}

// structFields is a struct type's keys, in declaration order.
type structFields struct {
	byName map[string]*field
	list   []*field
}

var fieldCache sync.Map // reflect.Type → *structFields

// fieldsOf lists the JSON keys of struct type t as encoding/json names them:
// the json tag's name, else the Go field name; embedded structs without a
// tag contribute their own keys; "-" and unexported fields have none.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	sf := &structFields{byName: map[string]*field{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if tag == "-" {
				continue
			}
			idx := append(append([]int(nil), prefix...), i)
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fd := &field{name: name, index: idx, required: hasFlag(f.Tag.Get("veet"), "required")}
			sf.byName[name] = fd
			sf.list = append(sf.list, fd)
		}
	}
	walk(t, nil)
	actual, _ := fieldCache.LoadOrStore(t, sf)
	return actual.(*structFields)
}

func hasFlag(tag, flag string) bool {
	for _, f := range strings.Split(tag, ",") {
		if strings.TrimSpace(f) == flag {
			return true
		}
	}
	return false
}

// member is one key and its raw value, in the order they came.
type member struct {
	key string
	raw json.RawMessage
}

// readObject splits one JSON object into its members, repeated keys
// included (fillStruct refuses them, after DecodeClient has read the head).
// The members' values are not decoded yet.
func readObject(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxProblem(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, strictf("must be a JSON object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxProblem(err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxProblem(err)
		}
		out = append(out, member{key, raw})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntaxProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, strictf("trailing data after the JSON object")
	}
	return out, nil
}

// readArray splits one JSON array into its elements.
func readArray(data []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxProblem(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, strictf("must be a JSON array")
	}
	var out []json.RawMessage
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxProblem(err)
		}
		out = append(out, raw)
	}
	return out, nil
}

// decodeStrict decodes data into the struct v points to.
func decodeStrict(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic("events: decodeStrict needs a pointer to a struct")
	}
	members, err := readObject(data)
	if err != nil {
		return err
	}
	return fillStruct(members, rv.Elem(), "")
}

// fillStruct sets the fields of struct value sv from members; path names
// the enclosing field in errors ("candidate.sdpMid").
func fillStruct(members []member, sv reflect.Value, path string) error {
	fs := fieldsOf(sv.Type())
	present := make(map[*field]bool, len(members))
	for _, m := range members {
		f := fs.byName[m.key]
		if f == nil {
			return strictf("unknown field %q", join(path, clipKey(m.key)))
		}
		if present[f] {
			return strictf("field %q appears more than once", join(path, f.name))
		}
		present[f] = true
		if err := decodeValue(m.raw, sv.FieldByIndex(f.index), join(path, f.name)); err != nil {
			return err
		}
	}
	for _, f := range fs.list {
		if f.required && !present[f] {
			return strictf("field %q is required", join(path, f.name))
		}
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// decodeValue decodes one raw value into v, walking objects and arrays so
// that nested keys follow the same rules.
func decodeValue(raw json.RawMessage, v reflect.Value, path string) error {
	isNull := bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
	if v.Kind() == reflect.Pointer {
		if isNull {
			v.SetZero()
			return nil
		}
		elem := reflect.New(v.Type().Elem())
		if err := decodeValue(raw, elem.Elem(), path); err != nil {
			return err
		}
		v.Set(elem)
		return nil
	}
	if isNull {
		return strictf("field %q must not be null", path)
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		return leaf(raw, v, path)
	}
	switch v.Kind() {
	case reflect.Struct:
		members, err := readObject(raw)
		if err != nil {
			return fieldProblem(path, err)
		}
		return fillStruct(members, v, path)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return leaf(raw, v, path)
		}
		members, err := readObject(raw)
		if err != nil {
			return fieldProblem(path, err)
		}
		m := reflect.MakeMapWithSize(v.Type(), len(members))
		for _, mb := range members {
			k := reflect.ValueOf(mb.key).Convert(v.Type().Key())
			if m.MapIndex(k).IsValid() {
				return strictf("field %q appears more than once", join(path, clipKey(mb.key)))
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			if err := decodeValue(mb.raw, ev, join(path, clipKey(mb.key))); err != nil {
				return err
			}
			m.SetMapIndex(k, ev)
		}
		v.Set(m)
		return nil
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return leaf(raw, v, path) // []byte is a base64 string
		}
		elems, err := readArray(raw)
		if err != nil {
			return fieldProblem(path, err)
		}
		s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
		for i, e := range elems {
			if err := decodeValue(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Interface, reflect.Array:
		// Free-form values have no keys to check; the protocol has none.
		return leaf(raw, v, path)
	}
	return leaf(raw, v, path)
}

// leaf decodes a value with no keys of its own (a string, number, bool).
func leaf(raw json.RawMessage, v reflect.Value, path string) error {
	p := reflect.New(v.Type())
	if err := json.Unmarshal(raw, p.Interface()); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return strictf("field %q must be %s", path, kindName(v.Type()))
		}
		return fieldProblem(path, syntaxProblem(err))
	}
	v.Set(p.Elem())
	return nil
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.Kind().String()
}

func fieldProblem(path string, err error) error {
	if path == "" {
		return err
	}
	return strictf("field %q: %s", path, err)
}

// syntaxProblem phrases a JSON syntax error without echoing the input.
func syntaxProblem(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return strictf("malformed JSON at byte %d", syn.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return strictf("malformed JSON: it ends too soon")
	}
	var se *strictError
	if errors.As(err, &se) {
		return se
	}
	return strictf("malformed JSON")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// clipKey bounds a client's key before it goes into an error message.
func clipKey(k string) string {
	if len(k) > 40 {
		return k[:40] + "…"
	}
	return k
}
