package charm

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tls-authority/tls-authority/ca"
)

// Config is the charm's config, parsed and checked.
type Config struct {
	Subject            ca.Subject
	Algorithm          ca.Algorithm
	RootValidity       time.Duration
	LeafValidity       time.Duration
	CertificateLimit   int // -1: no limit
	Policy             ca.Policy
	CRLValidity        time.Duration
	ForwardReceivedCAs bool
	BindClusterNames   bool // refuse cluster names of the model that the requirer does not own (names.go)
	// CASecret is the ca-secret option: the URI of a Juju user secret holding a CA to import (importca.go).
	CASecret            string
	rootValidityString  string
	leafValidityString  string
	allowedDomainsValue string
}

// ConfigError lists every invalid option, so one Blocked message names them all.
type ConfigError struct {
	Problems map[string]string // option -> why
}

func (e *ConfigError) Error() string {
	opts := make([]string, 0, len(e.Problems))
	for k := range e.Problems {
		opts = append(opts, k)
	}
	sort.Strings(opts)
	parts := make([]string, len(opts))
	for i, k := range opts {
		parts[i] = k + " " + e.Problems[k]
	}
	return "invalid config: " + strings.Join(parts, "; ")
}

// maxValidity bounds root-ca-validity, certificate-validity and crl-validity alike. A hundred years keeps
// now + validity far inside X.509's dates (GeneralizedTime runs to 9999; Go switches from UTCTime after 2049) and
// inside time.Duration (about 292 years), so 2 × certificate-validity, compared with root-ca-validity, cannot
// overflow either.
const (
	maxValidity       = 36500 * 24 * time.Hour
	maxValidityString = "36500d (100 years)"
)

// maxCAPathLength bounds ca-request-max-path-length. Each level is one more CA a requirer may delegate to, each
// holding its own key outside this authority's sight, and every verifier walks the chain: four levels is deeper than
// any real hierarchy (a root, a policy CA, an issuing CA), and the root's path length (one more) stays small.
const maxCAPathLength = 4

// Compiled on first use: most hooks never validate a country or a domain, and every hook pays package init.
var (
	countryRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z]{2}$`) })
	// The form ca.ParseValidity accepts, whatever the size: tells a malformed value from one out of range.
	validityRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+[mhdw]?$`) })
	domainRE   = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$`)
	})
)

// ParseConfig reads config-get's map. Every bad option is reported in one *ConfigError; the Config returned
// alongside is still filled where it could be, but callers act on nothing when err != nil.
func ParseConfig(raw map[string]any) (*Config, error) {
	problems := map[string]string{}
	str := func(k string) string {
		switch v := raw[k].(type) {
		case string:
			return strings.TrimSpace(v)
		case nil:
			return ""
		default:
			problems[k] = fmt.Sprintf("must be a string, not %T", v)
			return ""
		}
	}
	boolean := func(k string, def bool) bool {
		switch v := raw[k].(type) {
		case bool:
			return v
		case nil:
			return def
		default:
			problems[k] = fmt.Sprintf("must be a boolean, not %T", v)
			return def
		}
	}
	c := &Config{
		Subject: ca.Subject{
			CommonName:         str("ca-common-name"),
			Organization:       str("ca-organization"),
			OrganizationalUnit: str("ca-organizational-unit"),
			EmailAddress:       str("ca-email-address"),
			Country:            str("ca-country-name"),
			Province:           str("ca-state-or-province-name"),
			Locality:           str("ca-locality-name"),
		},
		rootValidityString:  str("root-ca-validity"),
		leafValidityString:  str("certificate-validity"),
		allowedDomainsValue: str("allowed-domains"),
		ForwardReceivedCAs:  boolean("forward-received-cas", false),
		BindClusterNames:    boolean("bind-cluster-names", false),
		CASecret:            str("ca-secret"),
	}
	if c.Subject.CommonName == "" {
		problems["ca-common-name"] = "must not be empty"
	} else if len(c.Subject.CommonName) > 64 {
		problems["ca-common-name"] = "must be at most 64 characters"
	}
	if c.Subject.Country != "" && !countryRE().MatchString(c.Subject.Country) {
		problems["ca-country-name"] = "must be a two-letter country code"
	}
	if e := c.Subject.EmailAddress; e != "" && (!strings.Contains(e, "@") || strings.ContainsAny(e, " \t")) {
		problems["ca-email-address"] = "must be an email address"
	}
	algo := str("ca-key-algorithm")
	if algo == "" {
		c.Algorithm = ca.DefaultAlgorithm
	} else if a, err := ca.ParseAlgorithm(algo); err != nil {
		problems["ca-key-algorithm"] = fmt.Sprintf("must be one of %s", algorithmNames())
	} else {
		c.Algorithm = a
	}
	duration := func(k, v, def string) time.Duration {
		if v == "" {
			v = def
		}
		d, err := ca.ParseValidity(v)
		switch {
		case err == nil && d <= maxValidity:
			return d
		case !validityRE().MatchString(v):
			problems[k] = fmt.Sprintf("%q is not a duration (a number with m, h, d or w; a bare number is days)", v)
		case strings.Trim(v, "0mhdw") == "":
			problems[k] = fmt.Sprintf("%q must be positive", v)
		default: // well formed, but beyond maxValidity or beyond what time.Duration holds
			problems[k] = fmt.Sprintf("%q must be at most %s", v, maxValidityString)
		}
		return 0
	}
	c.RootValidity = duration("root-ca-validity", c.rootValidityString, "365d")
	c.LeafValidity = duration("certificate-validity", c.leafValidityString, "90d")
	c.CRLValidity = duration("crl-validity", str("crl-validity"), "7d")
	if c.RootValidity > 0 && c.LeafValidity > 0 && c.RootValidity < 2*c.LeafValidity {
		problems["root-ca-validity"] = "must be at least twice certificate-validity"
	}
	switch v := raw["certificate-limit"].(type) {
	case nil:
		c.CertificateLimit = 99
	case float64: // JSON numbers
		if v != float64(int(v)) || (v < 1 && v != -1) {
			problems["certificate-limit"] = "must be a positive integer or -1"
		}
		c.CertificateLimit = int(v)
	default:
		problems["certificate-limit"] = fmt.Sprintf("must be an integer, not %T", v)
	}
	c.Policy = ca.Policy{
		AllowIPSANs:     boolean("allow-ip-sans", true),
		AllowWildcards:  boolean("allow-wildcards", true),
		AllowCARequests: boolean("allow-ca-requests", false), // SPEC §2: a requirer CA is trusted by every consumer of this one
	}
	for _, d := range strings.Split(c.allowedDomainsValue, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if !domainRE().MatchString(d) || strings.HasPrefix(d, "*") {
			problems["allowed-domains"] = fmt.Sprintf("%q is not a DNS suffix", d)
			continue
		}
		c.Policy.AllowedDomains = append(c.Policy.AllowedDomains, strings.TrimSuffix(d, "."))
	}
	c.Policy.AllowedIPRanges = parseIPRanges(str("allowed-ip-ranges"), problems)
	switch v := raw["ca-request-max-path-length"].(type) {
	case nil:
	case float64: // JSON numbers
		if v != float64(int(v)) || v < 0 || v > maxCAPathLength {
			problems["ca-request-max-path-length"] = fmt.Sprintf("must be an integer from 0 to %d", maxCAPathLength)
		} else {
			c.Policy.CAMaxPathLen = int(v)
		}
	default:
		problems["ca-request-max-path-length"] = fmt.Sprintf("must be an integer, not %T", v)
	}
	if len(problems) > 0 {
		return c, &ConfigError{Problems: problems}
	}
	return c, nil
}

// parseIPRanges reads allowed-ip-ranges: comma-separated CIDRs, IPv4 or IPv6. A range with host bits set
// (10.1.2.3/8) is refused rather than read as its network: the operator may have meant a narrower one.
func parseIPRanges(value string, problems map[string]string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range strings.Split(value, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			problems["allowed-ip-ranges"] = fmt.Sprintf("%q is not a CIDR range (e.g. 10.0.0.0/8 or fd00::/8)", s)
		case p != p.Masked():
			problems["allowed-ip-ranges"] = fmt.Sprintf("%q has host bits set (the range is %s)", s, p.Masked())
		case p.Addr().Is4In6():
			problems["allowed-ip-ranges"] = fmt.Sprintf("%q is an IPv4-mapped IPv6 range: write it as IPv4", s)
		default:
			out = append(out, p)
		}
	}
	return out
}

func algorithmNames() string {
	names := make([]string, len(ca.Algorithms))
	for i, a := range ca.Algorithms {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// RootMaxPathLen is the path length of a root this charm creates: room for one requirer CA of
// ca-request-max-path-length, and no more.
func (c *Config) RootMaxPathLen() int { return c.Policy.CAMaxPathLen + 1 }

// CAParams is the part of the config that defines the CA: when it changes, the CA rotates.
// It is kept beside the CA, so a later hook can tell without re-deriving it from the certificate.
//
// The root's path length (RootMaxPathLen) is part of it only when ca-request-max-path-length is not the default:
// params recorded by earlier revisions, whose roots have no path length, then still match, so an upgrade does not
// rotate the CA by itself (a rotation re-issues every certificate; the operator chooses when, with
// rotate-private-key, and the new root has the path length). A change of the option rotates the CA, and the new
// root leaves room for exactly the requirer CAs the option allows.
func (c *Config) CAParams() string {
	s := c.Subject
	params := []string{
		"cn=" + s.CommonName, "o=" + s.Organization, "ou=" + s.OrganizationalUnit, "email=" + s.EmailAddress,
		"c=" + s.Country, "st=" + s.Province, "l=" + s.Locality, "alg=" + string(c.Algorithm),
		"validity=" + c.RootValidity.String(),
	}
	if c.Policy.CAMaxPathLen != 0 {
		params = append(params, "pathlen="+strconv.Itoa(c.RootMaxPathLen()))
	}
	return strings.Join(params, "\n")
}
