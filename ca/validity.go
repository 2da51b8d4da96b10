package ca

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseValidity parses a validity option such as root-ca-validity: a whole
// number followed by m (minutes), h (hours), d (days) or w (weeks). A bare
// number means days, as in the self-signed-certificates charm. The result must
// be positive.
func ParseValidity(s string) (time.Duration, error) {
	v := strings.TrimSpace(s)
	unit := 24 * time.Hour
	if v != "" {
		switch v[len(v)-1] {
		case 'm':
			unit, v = time.Minute, v[:len(v)-1]
		case 'h':
			unit, v = time.Hour, v[:len(v)-1]
		case 'd':
			unit, v = 24*time.Hour, v[:len(v)-1]
		case 'w':
			unit, v = 7*24*time.Hour, v[:len(v)-1]
		}
	}
	// Only plain digits: ParseInt would also take a sign, and "-5d" or "+5d"
	// are more likely typos than intent.
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return 0, fmt.Errorf("cannot parse validity %q: want a number with an optional m, h, d or w suffix", s)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("cannot parse validity %q: too large", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("cannot parse validity %q: must be positive", s)
	}
	return time.Duration(n) * unit, nil
}
