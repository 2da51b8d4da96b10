package charm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/tests/requirer/charm"
)

func TestParseConfig(t *testing.T) {
	env := hooktool.Env{UnitName: "app-a/2", ModelName: "demo"}
	unitFQDN := "app-a-2.app-a-endpoints.demo.svc.cluster.local"
	appFQDN := "app-a.demo.svc.cluster.local"
	type want struct {
		cn   string
		dns  []string
		ips  []string
		none bool
	}
	tests := []struct {
		name       string
		cfg        map[string]any
		unit, app  want
		serves     tlscertificates.Scope
		errContain string
	}{{
		name: "defaults", cfg: map[string]any{"mode": "unit", "sans": "{fqdn}"},
		unit: want{cn: unitFQDN, dns: []string{unitFQDN}}, app: want{none: true}, serves: tlscertificates.ScopeUnit,
	}, {
		name: "app with common name and an IP", cfg: map[string]any{"mode": "app", "common-name": "ingress.example", "sans": "{fqdn}, 10.0.0.7,ingress.example"},
		unit: want{none: true}, app: want{cn: "ingress.example", dns: []string{appFQDN, "ingress.example"}, ips: []string{"10.0.0.7"}},
		serves: tlscertificates.ScopeApp,
	}, {
		name: "both", cfg: map[string]any{"mode": "both", "sans": "{fqdn}"},
		unit: want{cn: unitFQDN, dns: []string{unitFQDN}}, app: want{cn: appFQDN, dns: []string{appFQDN}},
		serves: tlscertificates.ScopeUnit,
	}, {
		name: "proxy: the application's", cfg: map[string]any{"mode": "proxy", "sans": "{fqdn}"},
		unit: want{none: true}, app: want{cn: appFQDN, dns: []string{appFQDN}}, serves: tlscertificates.ScopeApp,
	}, {
		name: "no sans: the FQDN as common name", cfg: map[string]any{"mode": "unit", "sans": ""},
		unit: want{cn: unitFQDN}, app: want{none: true}, serves: tlscertificates.ScopeUnit,
	}, {
		name: "bad mode and long common name", cfg: map[string]any{"mode": "all", "common-name": strings.Repeat("x", 65)},
		errContain: `mode "all"`,
	}, {
		name: "long common name", cfg: map[string]any{"mode": "unit", "common-name": strings.Repeat("x", 65)},
		errContain: "common-name",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := charm.ParseConfig(tt.cfg, env)
			if tt.errContain != "" {
				if !errors.Is(err, charm.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.errContain) {
					t.Fatalf("err = %v, want ErrInvalidConfig naming %q", err, tt.errContain)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Serves() != tt.serves {
				t.Errorf("serves %s, want %s", c.Serves(), tt.serves)
			}
			for scope, w := range map[tlscertificates.Scope]want{tlscertificates.ScopeUnit: tt.unit, tlscertificates.ScopeApp: tt.app} {
				req, ok := c.Requests[scope]
				if ok == w.none {
					t.Fatalf("%s request present %v", scope, ok)
				}
				if w.none {
					continue
				}
				var ips []string
				for _, ip := range req.IPAddresses {
					ips = append(ips, ip.String())
				}
				if req.CommonName != w.cn || strings.Join(req.DNSNames, ",") != strings.Join(w.dns, ",") || strings.Join(ips, ",") != strings.Join(w.ips, ",") {
					t.Errorf("%s request %s %v %v, want %s %v %v", scope, req.CommonName, req.DNSNames, ips, w.cn, w.dns, w.ips)
				}
			}
		})
	}
}

func TestFQDNs(t *testing.T) {
	if got := charm.UnitFQDN("prom/10", "cos"); got != "prom-10.prom-endpoints.cos.svc.cluster.local" {
		t.Error(got)
	}
	if got := charm.AppFQDN("prom", "cos"); got != "prom.cos.svc.cluster.local" {
		t.Error(got)
	}
}

func TestParseConfigCOSOptions(t *testing.T) {
	env := hooktool.Env{UnitName: "prom/0", ModelName: "cos"}
	c, err := charm.ParseConfig(map[string]any{"mode": "unit"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.PlainHTTP || c.TrustIssuerCA || c.CharmTrustStore {
		t.Errorf("defaults %+v: want every COS option off (the requirer's behaviour before them)", c)
	}
	c, err = charm.ParseConfig(map[string]any{"mode": "unit", "plain-http-without-certificates": true, "trust-issuer-ca": true, "charm-trust-store": true}, env)
	if err != nil {
		t.Fatal(err)
	}
	if !c.PlainHTTP || !c.TrustIssuerCA || !c.CharmTrustStore {
		t.Errorf("got %+v, want every COS option on", c)
	}
	_, err = charm.ParseConfig(map[string]any{"mode": "unit", "trust-issuer-ca": "yes", "charm-trust-store": 1}, env)
	if !errors.Is(err, charm.ErrInvalidConfig) || !strings.Contains(err.Error(), "trust-issuer-ca") || !strings.Contains(err.Error(), "charm-trust-store") {
		t.Errorf("err = %v, want ErrInvalidConfig naming both options", err)
	}
}
