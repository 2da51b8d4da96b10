package tlscertificates

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// pyWriter writes JSON the way Python's json.dumps does with its defaults,
// which is what the Python charm libraries put in databags: ", " between
// items, ": " after keys, and every character outside printable ASCII
// escaped as \uXXXX (ensure_ascii). Go's encoding/json differs on all three
// (no spaces, HTML escaping, raw UTF-8), and the fixtures are compared byte
// for byte, so the few shapes the interface needs are written by hand.
type pyWriter struct {
	b strings.Builder
}

func (w *pyWriter) raw(s string) { w.b.WriteString(s) }

func (w *pyWriter) str(s string) {
	w.b.WriteByte('"')
	for i := 0; i < len(s); {
		// Runs of printable ASCII other than the quote and the backslash go out as they are: PEM is mostly that,
		// and a hook writes megabytes of it.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x7e && s[j] != '"' && s[j] != '\\' {
			j++
		}
		if j > i {
			w.b.WriteString(s[i:j])
			i = j
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch r {
		case '"':
			w.b.WriteString(`\"`)
		case '\\':
			w.b.WriteString(`\\`)
		case '\n':
			w.b.WriteString(`\n`)
		case '\r':
			w.b.WriteString(`\r`)
		case '\t':
			w.b.WriteString(`\t`)
		case '\b':
			w.b.WriteString(`\b`)
		case '\f':
			w.b.WriteString(`\f`)
		default:
			switch {
			case r >= 0x20 && r <= 0x7e:
				w.b.WriteRune(r)
			case r > 0xffff:
				// Python escapes astral characters as a UTF-16 surrogate pair.
				r -= 0x10000
				w.hex4(0xd800 + (r>>10)&0x3ff)
				w.hex4(0xdc00 + r&0x3ff)
			default:
				// Invalid UTF-8 decodes as U+FFFD, as encoding/json does.
				w.hex4(r)
			}
		}
	}
	w.b.WriteByte('"')
}

func (w *pyWriter) hex4(r rune) {
	h := strconv.FormatInt(int64(r), 16)
	w.b.WriteString(`\u` + strings.Repeat("0", 4-len(h)) + h)
}

func (w *pyWriter) boolean(v bool) {
	if v {
		w.raw("true")
	} else {
		w.raw("false")
	}
}

func (w *pyWriter) strs(list []string) {
	w.raw("[")
	for i, s := range list {
		if i > 0 {
			w.raw(", ")
		}
		w.str(s)
	}
	w.raw("]")
}

// key writes an object key; first is whether it is the object's first.
func (w *pyWriter) key(k string, first bool) {
	if !first {
		w.raw(", ")
	}
	w.str(k)
	w.raw(": ")
}

func (w *pyWriter) String() string { return w.b.String() }
