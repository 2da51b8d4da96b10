package certtransfer

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// pyQuote returns s as Python's json.dumps prints a string: printable ASCII
// as is, everything else escaped (ensure_ascii), astral characters as
// surrogate pairs. The Python libraries write databags with json.dumps and
// the fixtures are compared byte for byte. (A twin of the tls-certificates
// package's writer: the two interface packages stay independent.)
func pyQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	hex4 := func(r rune) {
		h := strconv.FormatInt(int64(r), 16)
		b.WriteString(`\u` + strings.Repeat("0", 4-len(h)) + h)
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r >= 0x20 && r <= 0x7e:
				b.WriteRune(r)
			case r > 0xffff:
				r -= 0x10000
				hex4(0xd800 + (r>>10)&0x3ff)
				hex4(0xdc00 + r&0x3ff)
			default:
				hex4(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pyList returns a list of strings as json.dumps prints it.
func pyList(list []string) string {
	parts := make([]string, len(list))
	for i, s := range list {
		parts[i] = pyQuote(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
