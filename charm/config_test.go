package charm

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
)

func defaults() map[string]any {
	return map[string]any{
		"ca-common-name": "self-signed-certificates-operator", "root-ca-validity": "365d",
		"certificate-validity": "90d", "certificate-limit": float64(99), "ca-key-algorithm": "rsa-2048",
		"allowed-domains": "", "allow-ip-sans": true, "allow-wildcards": true, "allow-ca-requests": false,
		"crl-validity": "7d", "forward-received-cas": false,
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]any
		bad   []string // options the error must name
		msg   string   // when set, what the first option's problem must say
		check func(t *testing.T, c *Config)
	}{
		{name: "defaults", check: func(t *testing.T, c *Config) {
			if c.RootValidity != 365*24*time.Hour || c.LeafValidity != 90*24*time.Hour || c.Algorithm != ca.RSA2048 ||
				c.CertificateLimit != 99 || !c.Policy.AllowIPSANs || c.Subject.CommonName != "self-signed-certificates-operator" {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "bare number is days", set: map[string]any{"certificate-validity": "10", "root-ca-validity": "3w"}, check: func(t *testing.T, c *Config) {
			if c.LeafValidity != 10*24*time.Hour || c.RootValidity != 21*24*time.Hour {
				t.Errorf("validities = %v, %v", c.LeafValidity, c.RootValidity)
			}
		}},
		{name: "minutes and hours", set: map[string]any{"certificate-validity": "30m", "root-ca-validity": "2h"}},
		{name: "domains", set: map[string]any{"allowed-domains": " Example.com, svc.cluster.local "}, check: func(t *testing.T, c *Config) {
			if strings.Join(c.Policy.AllowedDomains, ",") != "example.com,svc.cluster.local" {
				t.Errorf("domains = %v", c.Policy.AllowedDomains)
			}
		}},
		{name: "unlimited", set: map[string]any{"certificate-limit": float64(-1)}},
		{name: "allow-ca-requests off when unset", set: map[string]any{"allow-ca-requests": nil}, check: func(t *testing.T, c *Config) {
			if c.Policy.AllowCARequests {
				t.Error("allow-ca-requests is on by default: any requirer would get a CA every consumer of this one trusts")
			}
		}},
		{name: "allow-ca-requests on", set: map[string]any{"allow-ca-requests": true}, check: func(t *testing.T, c *Config) {
			if !c.Policy.AllowCARequests {
				t.Error("allow-ca-requests true is not parsed")
			}
		}},
		{name: "bind-cluster-names off by default", check: func(t *testing.T, c *Config) {
			if c.BindClusterNames {
				t.Error("bind-cluster-names is on by default")
			}
		}},
		{name: "bind-cluster-names on", set: map[string]any{"bind-cluster-names": true}, check: func(t *testing.T, c *Config) {
			if !c.BindClusterNames {
				t.Error("bind-cluster-names true is not parsed")
			}
		}},
		{name: "bind-cluster-names not a boolean", set: map[string]any{"bind-cluster-names": "yes"}, bad: []string{"bind-cluster-names"}},
		{name: "invalid leaf validity", set: map[string]any{"certificate-validity": "ninety"}, bad: []string{"certificate-validity"},
			msg: `"ninety" is not a duration`},
		{name: "signed validity", set: map[string]any{"certificate-validity": "-1d"}, bad: []string{"certificate-validity"},
			msg: `"-1d" is not a duration`},
		{name: "zero days", set: map[string]any{"certificate-validity": "0d"}, bad: []string{"certificate-validity"},
			msg: `"0d" must be positive`},
		{name: "zero bare", set: map[string]any{"crl-validity": "00"}, bad: []string{"crl-validity"},
			msg: `"00" must be positive`},
		{name: "overflows time.Duration", set: map[string]any{"certificate-validity": "99999999d"}, bad: []string{"certificate-validity"},
			msg: `"99999999d" must be at most 36500d (100 years)`},
		{name: "overflows int64", set: map[string]any{"crl-validity": "99999999999999999999m"}, bad: []string{"crl-validity"},
			msg: `must be at most 36500d`},
		{name: "beyond the maximum", set: map[string]any{"root-ca-validity": "36501d"}, bad: []string{"root-ca-validity"},
			msg: `"36501d" must be at most 36500d (100 years)`},
		{name: "the maximum, in weeks", set: map[string]any{"root-ca-validity": "5214w", "certificate-validity": "18249d"}, check: func(t *testing.T, c *Config) {
			if c.RootValidity != 5214*7*24*time.Hour || c.LeafValidity != 18249*24*time.Hour {
				t.Errorf("validities = %v, %v", c.RootValidity, c.LeafValidity)
			}
		}},
		{name: "leaf at the maximum, root too short", set: map[string]any{"root-ca-validity": "36500d", "certificate-validity": "36500d"},
			bad: []string{"root-ca-validity"}, msg: "must be at least twice certificate-validity"},
		{name: "empty common name", set: map[string]any{"ca-common-name": " "}, bad: []string{"ca-common-name"}},
		{name: "root too short", set: map[string]any{"root-ca-validity": "100d"}, bad: []string{"root-ca-validity"}},
		{name: "ip ranges", set: map[string]any{"allowed-ip-ranges": " 10.0.0.0/8, fd00::/8,192.168.1.7/32 "}, check: func(t *testing.T, c *Config) {
			want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.168.1.7/32")}
			if !slices.Equal(c.Policy.AllowedIPRanges, want) {
				t.Errorf("ranges = %v, want %v", c.Policy.AllowedIPRanges, want)
			}
		}},
		{name: "ip ranges empty allows any", check: func(t *testing.T, c *Config) {
			if c.Policy.AllowedIPRanges != nil {
				t.Errorf("ranges = %v", c.Policy.AllowedIPRanges)
			}
		}},
		{name: "ip range not a CIDR", set: map[string]any{"allowed-ip-ranges": "10.0.0.0/8,10.0.0.1"}, bad: []string{"allowed-ip-ranges"},
			msg: `"10.0.0.1" is not a CIDR range`},
		{name: "ip range garbage", set: map[string]any{"allowed-ip-ranges": "example.com/8"}, bad: []string{"allowed-ip-ranges"},
			msg: "is not a CIDR range"},
		{name: "ip range prefix too long", set: map[string]any{"allowed-ip-ranges": "10.0.0.0/33"}, bad: []string{"allowed-ip-ranges"},
			msg: "is not a CIDR range"},
		{name: "ip range host bits", set: map[string]any{"allowed-ip-ranges": "10.1.2.3/8"}, bad: []string{"allowed-ip-ranges"},
			msg: "host bits set (the range is 10.0.0.0/8)"},
		{name: "ip range mapped", set: map[string]any{"allowed-ip-ranges": "::ffff:10.0.0.0/104"}, bad: []string{"allowed-ip-ranges"},
			msg: "IPv4-mapped"},
		{name: "ip ranges not a string", set: map[string]any{"allowed-ip-ranges": float64(10)}, bad: []string{"allowed-ip-ranges"}},
		{name: "path length default", check: func(t *testing.T, c *Config) {
			if c.Policy.CAMaxPathLen != 0 || c.RootMaxPathLen() != 1 {
				t.Errorf("path lengths %d, root %d", c.Policy.CAMaxPathLen, c.RootMaxPathLen())
			}
		}},
		{name: "path length set", set: map[string]any{"ca-request-max-path-length": float64(4)}, check: func(t *testing.T, c *Config) {
			if c.Policy.CAMaxPathLen != 4 || c.RootMaxPathLen() != 5 {
				t.Errorf("path lengths %d, root %d", c.Policy.CAMaxPathLen, c.RootMaxPathLen())
			}
		}},
		{name: "path length too long", set: map[string]any{"ca-request-max-path-length": float64(5)}, bad: []string{"ca-request-max-path-length"},
			msg: "from 0 to 4"},
		{name: "path length negative", set: map[string]any{"ca-request-max-path-length": float64(-1)}, bad: []string{"ca-request-max-path-length"}},
		{name: "path length fraction", set: map[string]any{"ca-request-max-path-length": float64(0.5)}, bad: []string{"ca-request-max-path-length"}},
		{name: "path length not a number", set: map[string]any{"ca-request-max-path-length": "1"}, bad: []string{"ca-request-max-path-length"}},
		{name: "every bad option named", set: map[string]any{
			"certificate-validity": "0", "ca-key-algorithm": "dsa", "ca-country-name": "France",
			"certificate-limit": float64(0), "allowed-domains": "ok.com,bad domain", "crl-validity": "-1d",
		}, bad: []string{"certificate-validity", "ca-key-algorithm", "ca-country-name", "certificate-limit", "allowed-domains", "crl-validity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := defaults()
			for k, v := range tt.set {
				raw[k] = v
			}
			c, err := ParseConfig(raw)
			if len(tt.bad) == 0 {
				if err != nil {
					t.Fatalf("ParseConfig: %v", err)
				}
				if tt.check != nil {
					tt.check(t, c)
				}
				return
			}
			ce, ok := err.(*ConfigError)
			if !ok {
				t.Fatalf("error = %v, want *ConfigError", err)
			}
			for _, opt := range tt.bad {
				if _, ok := ce.Problems[opt]; !ok || !strings.Contains(err.Error(), opt) {
					t.Errorf("error %q does not name %s", err, opt)
				}
			}
			if got := ce.Problems[tt.bad[0]]; tt.msg != "" && !strings.Contains(got, tt.msg) {
				t.Errorf("%s: problem %q, want it to say %q", tt.bad[0], got, tt.msg)
			}
			if len(ce.Problems) != len(tt.bad) {
				t.Errorf("problems = %v, want exactly %v", ce.Problems, tt.bad)
			}
		})
	}
}

func TestCAParamsChangeWithSubject(t *testing.T) {
	a, _ := ParseConfig(defaults())
	raw := defaults()
	raw["ca-organization"] = "Canonical"
	b, _ := ParseConfig(raw)
	raw = defaults()
	raw["certificate-validity"] = "30d"
	c, _ := ParseConfig(raw)
	if a.CAParams() == b.CAParams() {
		t.Error("an organization change must change the CA params")
	}
	if a.CAParams() != c.CAParams() {
		t.Error("a leaf validity change must not rotate the CA")
	}
}

// TestCAParamsPathLength: the default ca-request-max-path-length leaves the params as earlier revisions wrote them
// (an upgrade does not rotate by itself), and any change of the option changes them (the root's path length follows).
func TestCAParamsPathLength(t *testing.T) {
	const earlier = "cn=self-signed-certificates-operator\no=\nou=\nemail=\nc=\nst=\nl=\nalg=rsa-2048\nvalidity=8760h0m0s"
	params := map[float64]string{}
	for _, n := range []float64{0, 1, 2} {
		raw := defaults()
		raw["ca-request-max-path-length"] = n
		c, err := ParseConfig(raw)
		if err != nil {
			t.Fatal(err)
		}
		params[n] = c.CAParams()
	}
	if params[0] != earlier {
		t.Errorf("default params %q, want those of earlier revisions %q", params[0], earlier)
	}
	if params[1] == params[0] || params[2] == params[1] || !strings.Contains(params[2], "pathlen=3") {
		t.Errorf("params do not follow the path length: %v", params)
	}
}

// FuzzParseConfig: whatever an operator sets, parsing never panics, and a config it accepts has the invariants
// the charm relies on.
func FuzzParseConfig(f *testing.F) {
	f.Add("90d", "365d", "rsa-2048", "example.com", "self-signed-certificates-operator", "FR", float64(99))
	f.Add("10", "3w", "ed25519", "", "x", "", float64(-1))
	f.Add("0m", "-1", "dsa", "*.a, bad domain", "", "France", float64(0.5))
	f.Fuzz(func(t *testing.T, leaf, root, algo, domains, cn, country string, limit float64) {
		raw := defaults()
		raw["certificate-validity"], raw["root-ca-validity"], raw["ca-key-algorithm"] = leaf, root, algo
		raw["allowed-domains"], raw["ca-common-name"], raw["ca-country-name"] = domains, cn, country
		raw["certificate-limit"] = limit
		c, err := ParseConfig(raw)
		if err != nil {
			if ce, ok := err.(*ConfigError); !ok || len(ce.Problems) == 0 {
				t.Fatalf("error %v is not a *ConfigError with problems", err)
			}
			return
		}
		if c.LeafValidity <= 0 || c.RootValidity < 2*c.LeafValidity || c.Subject.CommonName == "" || c.Algorithm == "" {
			t.Fatalf("accepted config breaks an invariant: %+v", c)
		}
		if c.CertificateLimit == 0 || c.CertificateLimit < -1 {
			t.Fatalf("accepted certificate-limit %d", c.CertificateLimit)
		}
	})
}
