package prometheusscrape

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var topo = &Topology{Model: "cos", ModelUUID: "12345678-90ab-4def-8123-456789abcdef", Application: "ca", Unit: "ca/0", CharmName: "tls-authority"}

func TestWriteAppBag(t *testing.T) {
	bag, err := WriteAppBag(&AppBag{Metadata: *topo, Jobs: []Job{{JobName: "agent", MetricsPath: "/metrics",
		StaticConfigs: []StaticConfig{{Targets: []string{"*:8080"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		KeyScrapeMetadata: `{"model":"cos","model_uuid":"12345678-90ab-4def-8123-456789abcdef","application":"ca","unit":"ca/0","charm_name":"tls-authority"}`,
		KeyScrapeJobs:     `[{"job_name":"agent","metrics_path":"/metrics","static_configs":[{"targets":["*:8080"]}]}]`,
		KeyAlertRules:     `{}`,
	}
	if !reflect.DeepEqual(bag, want) {
		t.Errorf("bag =\n%v\nwant\n%v", bag, want)
	}
	for _, uuid := range []string{"", "12345678-90AB-4DEF-8123-456789ABCDEF", "12345678-90ab-1def-8123-456789abcdef", "x"} {
		bad := *topo
		bad.ModelUUID = uuid
		if _, err := WriteAppBag(&AppBag{Metadata: bad}); err == nil {
			t.Errorf("model uuid %q accepted", uuid)
		}
	}
}

func TestReadAppBag(t *testing.T) {
	tests := []struct {
		name     string
		bag      map[string]string
		wantMeta bool
		wantJobs string
	}{
		{"empty list is the default job", map[string]string{KeyScrapeJobs: "[]"}, false,
			`[{"metrics_path":"/metrics","static_configs":[{"targets":["*:80"]}]}]`},
		{"missing is the default job", map[string]string{}, false,
			`[{"metrics_path":"/metrics","static_configs":[{"targets":["*:80"]}]}]`},
		{"unknown keys dropped, defaults kept", map[string]string{KeyScrapeMetadata: mustJSON(topo),
			KeyScrapeJobs: `[{"job_name":"a","honor_labels":true,"static_configs":[{"targets":["*:8080"]}],"scheme":"https"}]`}, true,
			`[{"job_name":"a","metrics_path":"/metrics","scheme":"https","static_configs":[{"targets":["*:8080"]}]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta, jobs, _, err := ReadAppBag(tt.bag)
			if err != nil {
				t.Fatal(err)
			}
			if (meta != nil) != tt.wantMeta {
				t.Errorf("meta = %v", meta)
			}
			if got := mustJSON(jobs); got != tt.wantJobs {
				t.Errorf("jobs = %s\nwant   %s", got, tt.wantJobs)
			}
		})
	}
	if _, _, _, err := ReadAppBag(map[string]string{KeyScrapeMetadata: `{"model":"m","model_uuid":"nope","application":"a"}`}); err == nil {
		t.Error("a bad model uuid was accepted")
	}
}

func TestUnitBag(t *testing.T) {
	u := &UnitBag{Address: "10.1.2.3", Name: "ca/1", FQDN: "ca-1.ca-endpoints.cos.svc.cluster.local"}
	bag := WriteUnitBag(u)
	want := map[string]string{KeyUnitAddress: "10.1.2.3", KeyUnitName: "ca/1", KeyUnitPath: "", KeyUnitFQDN: "ca-1.ca-endpoints.cos.svc.cluster.local"}
	if !reflect.DeepEqual(bag, want) {
		t.Errorf("bag = %v", bag)
	}
	if got, ok := ReadUnitBag(bag); !ok || got != *u {
		t.Errorf("read back %+v %v", got, ok)
	}
	if got, ok := ReadUnitBag(map[string]string{KeyLegacyHost: "h", KeyUnitName: "a/0"}); !ok || got.Address != "h" {
		t.Errorf("legacy host: %+v %v", got, ok)
	}
	if _, ok := ReadUnitBag(map[string]string{KeyUnitAddress: "h"}); ok {
		t.Error("a unit without a name is scrapable")
	}
}

func TestScrapeConfigs(t *testing.T) {
	units := []UnitBag{
		{Address: "10.0.0.2", Name: "ca/1", FQDN: "ca-1.ca-endpoints.cos.svc.cluster.local"},
		{Address: "10.0.0.1", Name: "ca/0", Path: "/p", FQDN: "ca-0.ca-endpoints.cos.svc.cluster.local"},
	}
	_, jobs, _, err := ReadAppBag(map[string]string{KeyScrapeMetadata: mustJSON(topo),
		KeyScrapeJobs: `[{"job_name":"agent","static_configs":[{"targets":["*:8080","ca-1.ca-endpoints.cos.svc.cluster.local:9000","elsewhere:1"],"labels":{"juju_model":"override","team":"pki"}}]}]`})
	if err != nil {
		t.Fatal(err)
	}
	got := ScrapeConfigs(topo, jobs, units)
	prefix := "juju_cos_12345678_ca_prometheus_scrape_agent"
	if len(got) != 3 {
		t.Fatalf("%d jobs: %s", len(got), mustJSON(got))
	}
	byName := map[string]map[string]any{}
	for _, j := range got {
		byName[j["job_name"].(string)] = j
	}
	unitless, u0, u1 := byName[prefix], byName[prefix+"-0"], byName[prefix+"-1"]
	if unitless == nil || u0 == nil || u1 == nil {
		t.Fatalf("job names: %v", reflect.ValueOf(byName).MapKeys())
	}
	sc := func(j map[string]any) map[string]any { return j["static_configs"].([]any)[0].(map[string]any) }
	if ts := mustJSON(sc(u0)["targets"]); ts != `["10.0.0.1:8080"]` {
		t.Errorf("unit 0 targets %s", ts)
	}
	if ts := mustJSON(sc(u1)["targets"]); ts != `["10.0.0.2:8080","ca-1.ca-endpoints.cos.svc.cluster.local:9000"]` {
		t.Errorf("unit 1 targets %s (a literal target on a unit's FQDN joins its job)", ts)
	}
	if ts := mustJSON(sc(unitless)["targets"]); ts != `["elsewhere:1"]` {
		t.Errorf("unitless targets %s", ts)
	}
	if u0["metrics_path"] != "/p/metrics" || u1["metrics_path"] != "/metrics" {
		t.Errorf("metrics paths %v %v", u0["metrics_path"], u1["metrics_path"])
	}
	l0 := sc(u0)["labels"].(map[string]any)
	want := map[string]any{"juju_model": "override", "juju_model_uuid": topo.ModelUUID, "juju_application": "ca",
		"juju_charm": "tls-authority", "juju_unit": "ca/0", "team": "pki"}
	if !reflect.DeepEqual(l0, want) {
		t.Errorf("unit 0 labels %v", l0)
	}
	if _, ok := sc(unitless)["labels"].(map[string]any)["juju_unit"]; ok {
		t.Error("the unitless job has juju_unit")
	}
	relabel := mustJSON(u0["relabel_configs"])
	if relabel != `[{"regex":"(.*)","separator":"_","source_labels":["juju_model","juju_model_uuid","juju_application","juju_unit"],"target_label":"instance"}]` {
		t.Errorf("relabel %s", relabel)
	}
	// No metadata: untouched.
	if pass := ScrapeConfigs(nil, jobs, units); mustJSON(pass) != mustJSON(jobs) {
		t.Errorf("jobs without metadata changed: %s", mustJSON(pass))
	}
	// No units: a wildcard yields nothing.
	_, wild, _, _ := ReadAppBag(map[string]string{KeyScrapeMetadata: mustJSON(topo), KeyScrapeJobs: `[{"static_configs":[{"targets":["*:8080"]}]}]`})
	if got := ScrapeConfigs(topo, wild, nil); len(got) != 0 {
		t.Errorf("jobs without units: %s", mustJSON(got))
	}
}

func TestLoadRules(t *testing.T) {
	files := []RuleFile{
		{Path: "tls.rule", Data: []byte(`groups:
- name: tls-authority
  rules:
  - alert: CAExpiring
    expr: tls_authority_ca_expiry_timestamp_seconds{%%juju_topology%%,x="1"} - time() < 86400
    labels:
      severity: warning
      juju_model: mine
`)},
		{Path: "sub/single.yaml", Data: []byte("alert: Down\nexpr: up{%%juju_topology%%} < 1\nfor: 5m\n")},
		{Path: "readme.md", Data: []byte("not a rule")},
		{Path: "keep.rules", Data: []byte("groups:\n- name: x_0123abcd_y_rules\n  rules:\n  - record: r\n    expr: vector(1)\n")},
	}
	rs, err := LoadRules(files, topo)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range rs.Groups {
		names = append(names, g.Name)
	}
	if got := strings.Join(names, " "); got != "x_0123abcd_y_rules cos_12345678_ca_sub_single_rules cos_12345678_ca_tls_authority_rules" {
		t.Errorf("group names %s", got)
	}
	r := rs.Groups[2].Rules[0]
	if r["expr"] != `tls_authority_ca_expiry_timestamp_seconds{x="1"} - time() < 86400` {
		t.Errorf("expr %q", r["expr"])
	}
	labels := r["labels"].(map[string]any)
	want := map[string]any{"severity": "warning", "juju_model": "mine", "juju_model_uuid": topo.ModelUUID,
		"juju_application": "ca", "juju_charm": "tls-authority"}
	if !reflect.DeepEqual(labels, want) {
		t.Errorf("labels %v", labels)
	}
	if e := rs.Groups[1].Rules[0]["expr"]; e != "up{} < 1" {
		t.Errorf("single-rule expr %q", e)
	}
	// On the wire, and read back by a consumer.
	bag, err := WriteAppBag(&AppBag{Metadata: *topo, Rules: rs})
	if err != nil {
		t.Fatal(err)
	}
	_, _, back, err := ReadAppBag(bag)
	if err != nil || len(back.Groups) != 3 {
		t.Fatalf("read back %v %v", back, err)
	}
	for _, bad := range []string{"groups:\n- rules: []\n", "expr: up\n", "alert: a\nrecord: b\nexpr: up\n", "alert: a\nexpr: up\nlabels: [1]\n", ":"} {
		if _, err := LoadRules([]RuleFile{{Path: "bad.rule", Data: []byte(bad)}}, topo); err == nil {
			t.Errorf("rule file %q accepted", bad)
		}
	}
}

func FuzzReadAppBag(f *testing.F) {
	f.Add(mustJSON(topo), `[{"job_name":"a","static_configs":[{"targets":["*:8080","x:1"],"labels":{"a":"b"}}]}]`, `{}`, "10.0.0.1", "ca/0")
	f.Add(``, `[]`, `{"groups":[{"name":"g","rules":[{"alert":"a","expr":"up"}]}]}`, "", "")
	f.Add(mustJSON(topo), `[{"static_configs":[{"targets":[1,null,"*"]}],"relabel_configs":"x"},{"static_configs":"x"}]`, ``, "h", "a/b/c")
	f.Fuzz(func(t *testing.T, meta, jobs, rules, addr, unit string) {
		m, js, _, err := ReadAppBag(map[string]string{KeyScrapeMetadata: meta, KeyScrapeJobs: jobs, KeyAlertRules: rules})
		if err != nil {
			return
		}
		u, ok := ReadUnitBag(map[string]string{KeyUnitAddress: addr, KeyUnitName: unit})
		var units []UnitBag
		if ok {
			units = append(units, u)
		}
		out := ScrapeConfigs(m, js, units)
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("cannot encode the expanded jobs: %v", err)
		}
	})
}

func FuzzParseRuleFile(f *testing.F) {
	f.Add([]byte("groups:\n- name: g\n  rules:\n  - alert: a\n    expr: up{%%juju_topology%%}\n"))
	f.Add([]byte("alert: a\nexpr: up\nlabels: {a: b}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := LoadRules([]RuleFile{{Path: "f.rule", Data: data}}, topo)
		if err != nil {
			return
		}
		for _, g := range rs.Groups {
			for _, r := range g.Rules {
				l := r["labels"].(map[string]any)
				if l["juju_model_uuid"] == nil {
					t.Fatalf("rule without topology labels: %v", r)
				}
			}
		}
		if _, err := json.Marshal(rs); err != nil {
			t.Fatalf("cannot encode rules: %v", err)
		}
	})
}

// TestTLSJobRoundTrip: an https job with the CA's PEM content in tls_config.ca_file goes through the wire and the
// consumer's expansion intact, onto every unit's job, as prometheus-k8s reads it before writing the file.
func TestTLSJobRoundTrip(t *testing.T) {
	const pemCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	bag, err := WriteAppBag(&AppBag{Metadata: *topo, Jobs: []Job{{JobName: "agent", MetricsPath: "/metrics", Scheme: "https",
		StaticConfigs: []StaticConfig{{Targets: []string{"*:8443"}}}, TLSConfig: map[string]string{TLSCAFile: pemCA}}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"job_name":"agent","metrics_path":"/metrics","static_configs":[{"targets":["*:8443"]}],"scheme":"https","tls_config":{"ca_file":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}}]`; bag[KeyScrapeJobs] != want {
		t.Errorf("scrape_jobs = %s\nwant %s", bag[KeyScrapeJobs], want)
	}
	meta, jobs, _, err := ReadAppBag(bag)
	if err != nil {
		t.Fatal(err)
	}
	got := ScrapeConfigs(meta, jobs, []UnitBag{{Address: "10.0.0.1", Name: "ca/0"}, {Address: "10.0.0.2", Name: "ca/1"}})
	if len(got) != 2 {
		t.Fatalf("%d jobs: %v", len(got), got)
	}
	for i, j := range got {
		tc, _ := j["tls_config"].(map[string]any)
		targets := j["static_configs"].([]any)[0].(map[string]any)["targets"].([]any)
		if j["scheme"] != "https" || tc[TLSCAFile] != pemCA || targets[0] != "10.0.0."+string(rune('1'+i))+":8443" {
			t.Errorf("job %d: %v", i, j)
		}
	}
}
