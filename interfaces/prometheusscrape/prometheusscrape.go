// Package prometheusscrape holds the wire format of the prometheus_scrape interface (the Python library
// prometheus_scrape v0, LIBPATCH 61, and cosl): the provider's application databag (scrape_metadata, scrape_jobs,
// alert_rules) and unit databag (address, name, path, FQDN), the alert rule files a charm ships and how they are
// named and labelled on the wire, and the consumer's expansion of the jobs into Prometheus scrape configs. It makes
// no hook-tool call: every function is pure, so the parsers can be fuzzed.
package prometheusscrape

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Application databag keys (written by the provider's leader).
const (
	KeyScrapeMetadata = "scrape_metadata"
	KeyScrapeJobs     = "scrape_jobs"
	KeyAlertRules     = "alert_rules"
)

// Unit databag keys (written by every provider unit).
const (
	KeyUnitAddress = "prometheus_scrape_unit_address"
	KeyUnitName    = "prometheus_scrape_unit_name"
	KeyUnitPath    = "prometheus_scrape_unit_path"
	KeyUnitFQDN    = "prometheus_scrape_unit_fqdn"
	// KeyLegacyHost is what older providers wrote instead of the address; consumers still read it.
	KeyLegacyHost = "prometheus_scrape_host"
)

// Topology is the Juju topology of the provider: scrape_metadata on the wire.
type Topology struct {
	Model       string `json:"model"`
	ModelUUID   string `json:"model_uuid"`
	Application string `json:"application"`
	Unit        string `json:"unit"`
	CharmName   string `json:"charm_name"`
}

var uuid4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Validate checks what cosl checks: a canonical lower-case v4 model UUID, and a model and application.
func (t *Topology) Validate() error {
	if !uuid4.MatchString(t.ModelUUID) {
		return fmt.Errorf("cannot use model uuid %q: not a canonical lower-case v4 UUID", t.ModelUUID)
	}
	if t.Model == "" || t.Application == "" {
		return fmt.Errorf("cannot use topology %+v: model and application are required", *t)
	}
	return nil
}

// Identifier is cosl's topology identifier: <model>_<uuid[:8]>_<application>.
func (t *Topology) Identifier() string {
	u := t.ModelUUID
	if len(u) > 8 {
		u = u[:8]
	}
	return t.Model + "_" + u + "_" + t.Application
}

// Labels are the topology labels every rule and scraped series carries (juju_charm only when the charm is named).
func (t *Topology) Labels() map[string]string {
	l := map[string]string{"juju_model": t.Model, "juju_model_uuid": t.ModelUUID, "juju_application": t.Application}
	if t.CharmName != "" {
		l["juju_charm"] = t.CharmName
	}
	return l
}

// StaticConfig is one static_configs entry of a job.
type StaticConfig struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// Job is the subset of a Prometheus scrape_config a provider sends. TLSConfig is PEM content on the wire (see
// COS.md): prometheus-k8s reads ca_file as the CA's content.
type Job struct {
	JobName        string            `json:"job_name,omitempty"`
	MetricsPath    string            `json:"metrics_path,omitempty"`
	StaticConfigs  []StaticConfig    `json:"static_configs,omitempty"`
	ScrapeInterval string            `json:"scrape_interval,omitempty"`
	ScrapeTimeout  string            `json:"scrape_timeout,omitempty"`
	Scheme         string            `json:"scheme,omitempty"`
	TLSConfig      map[string]string `json:"tls_config,omitempty"`
}

// Keys of a job's tls_config as COS's consumers read them: prometheus-k8s takes the CA's PEM content from ca_file
// (and writes it to a file), otelcol-k8s from ca.
const (
	TLSCAFile = "ca_file"
	TLSCA     = "ca"
)

// AllowedJobKeys are the scrape_config keys a consumer keeps; it drops any other.
var AllowedJobKeys = []string{"job_name", "metrics_path", "static_configs", "scrape_interval", "scrape_timeout",
	"proxy_url", "relabel_configs", "metric_relabel_configs", "sample_limit", "label_limit", "label_name_length_limit",
	"label_value_length_limit", "scheme", "basic_auth", "tls_config", "authorization", "params"}

// AppBag is what the provider's leader writes.
type AppBag struct {
	Metadata Topology
	Jobs     []Job
	Rules    RuleSet
}

// WriteAppBag encodes the application databag. The output is deterministic (sorted keys), so an unchanged
// content is the same string and a digest of it tells whether anything needs writing.
func WriteAppBag(b *AppBag) (map[string]string, error) {
	if err := b.Metadata.Validate(); err != nil {
		return nil, err
	}
	jobs := b.Jobs
	if jobs == nil {
		jobs = []Job{}
	}
	rules := "{}"
	if len(b.Rules.Groups) > 0 {
		rules = mustJSON(b.Rules)
	}
	return map[string]string{
		KeyScrapeMetadata: mustJSON(b.Metadata),
		KeyScrapeJobs:     mustJSON(jobs),
		KeyAlertRules:     rules,
	}, nil
}

// UnitBag is what each provider unit writes.
type UnitBag struct {
	Address string // the bind address (pod IP); the FQDN when there is no IP
	Name    string // "app/0"
	Path    string // "" or an external URL's path
	FQDN    string
}

// WriteUnitBag encodes a unit databag.
func WriteUnitBag(u *UnitBag) map[string]string {
	return map[string]string{KeyUnitAddress: u.Address, KeyUnitName: u.Name, KeyUnitPath: u.Path, KeyUnitFQDN: u.FQDN}
}

// ReadUnitBag decodes a unit databag; ok is false when the unit is not ready to be scraped (no name or address), as
// the consumer skips such units. The legacy host key stands in for a missing address.
func ReadUnitBag(bag map[string]string) (u UnitBag, ok bool) {
	u = UnitBag{Address: bag[KeyUnitAddress], Name: bag[KeyUnitName], Path: bag[KeyUnitPath], FQDN: bag[KeyUnitFQDN]}
	if u.Address == "" {
		u.Address = bag[KeyLegacyHost]
	}
	return u, u.Address != "" && u.Name != ""
}

// ReadAppBag decodes a provider application databag as a consumer does. Metadata is nil when scrape_metadata is
// missing (the consumer then passes the jobs through untouched). Jobs are kept as generic maps, filtered to
// AllowedJobKeys and merged over the default job; an empty list is the default job.
func ReadAppBag(bag map[string]string) (meta *Topology, jobs []map[string]any, rules *RuleSet, err error) {
	if s, ok := bag[KeyScrapeMetadata]; ok {
		meta = &Topology{}
		if err := json.Unmarshal([]byte(s), meta); err != nil {
			return nil, nil, nil, fmt.Errorf("cannot parse %s: %w", KeyScrapeMetadata, err)
		}
		if err := meta.Validate(); err != nil {
			return nil, nil, nil, fmt.Errorf("cannot use %s: %w", KeyScrapeMetadata, err)
		}
	}
	var raw []map[string]any
	if s := bag[KeyScrapeJobs]; s != "" {
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return nil, nil, nil, fmt.Errorf("cannot parse %s: %w", KeyScrapeJobs, err)
		}
	}
	if len(raw) == 0 {
		raw = []map[string]any{{}}
	}
	for _, j := range raw {
		job := map[string]any{"metrics_path": "/metrics", "static_configs": []any{map[string]any{"targets": []any{"*:80"}}}}
		for _, k := range AllowedJobKeys {
			if v, ok := j[k]; ok && v != nil {
				job[k] = v
			}
		}
		jobs = append(jobs, job)
	}
	rules = &RuleSet{}
	if s := bag[KeyAlertRules]; s != "" {
		if err := json.Unmarshal([]byte(s), rules); err != nil {
			return nil, nil, nil, fmt.Errorf("cannot parse %s: %w", KeyAlertRules, err)
		}
	}
	return meta, jobs, rules, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cannot encode %T: %v", v, err)) // plain data only
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sanitize replaces what Prometheus does not accept in a group name with "_", as cosl does.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == ':' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, s)
}
