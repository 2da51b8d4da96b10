package tlscertificates

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// object is a JSON object read field by field. Decoding into a map rather
// than a struct keeps key matching exact (encoding/json matches struct
// fields case-insensitively) and lets each field fail on its own.
type object map[string]json.RawMessage

func isNull(raw json.RawMessage) bool {
	return raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// decodeList decodes a JSON array whose items are kept raw, so one bad item
// does not spoil the others. JSON null is an empty list.
func decodeList(value string) ([]json.RawMessage, error) {
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(value), &list); err != nil {
		return nil, err
	}
	return list, nil
}

func decodeObject(raw json.RawMessage) (object, error) {
	if isNull(raw) {
		return nil, fmt.Errorf("null instead of an object")
	}
	var o object
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("not an object")
	}
	return o, nil
}

// str returns a required string field.
func (o object) str(key string) (string, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return "", fmt.Errorf("no %q", key)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%q is not a string", key)
	}
	return s, nil
}

// optStr returns an optional string field: missing or null is "".
func (o object) optStr(key string) (string, error) {
	if raw, ok := o[key]; !ok || isNull(raw) {
		return "", nil
	}
	return o.str(key)
}

// optBool returns an optional boolean field: missing or null is false.
func (o object) optBool(key string) (bool, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, fmt.Errorf("%q is not a boolean", key)
	}
	return b, nil
}

// optBoolPtr is optBool keeping "absent" apart from false.
func (o object) optBoolPtr(key string) (*bool, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	b, err := o.optBool(key)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// optStrs returns an optional list of strings: missing or null is nil.
func (o object) optStrs(key string) ([]string, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%q is not a list of strings", key)
	}
	return list, nil
}

func (o object) integer(key string) (int, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return 0, fmt.Errorf("no %q", key)
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("%q is not an integer", key)
	}
	return n, nil
}
