package prometheusscrape

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"strings"
)

// ScrapeConfigs expands a provider's jobs into Prometheus scrape configs as the consumer library's jobs() does:
//   - job_name becomes juju_<model>_<uuid8>_<app>_prometheus_scrape_<job_name>;
//   - a "*" or "*:port" target becomes one job per unit (sorted by name), named with a "-<unit number>" suffix,
//     targeting that unit's address, with the unit's path before metrics_path and the label juju_unit;
//   - a literal target whose host is a unit's address or FQDN joins that unit's job; the others go into one job
//     without juju_unit;
//   - every target gets the topology labels (the static config's own labels win) and a relabel rule that builds
//     instance from them.
//
// With no metadata the jobs pass through untouched. Units without a name or address are skipped by ReadUnitBag
// before they get here.
func ScrapeConfigs(meta *Topology, jobs []map[string]any, units []UnitBag) []map[string]any {
	if meta == nil {
		return jobs
	}
	var out []map[string]any
	for _, job := range jobs {
		name := "juju_" + meta.Identifier() + "_prometheus_scrape"
		if n, _ := job["job_name"].(string); n != "" {
			name += "_" + n
		}
		base := map[string]any{}
		for k, v := range job {
			if k != "static_configs" && k != "job_name" {
				base[k] = v
			}
		}
		path, _ := job["metrics_path"].(string)
		statics, _ := job["static_configs"].([]any)
		for _, sc := range statics {
			scm, _ := sc.(map[string]any)
			targets, _ := scm["targets"].([]any)
			labels := map[string]string{}
			if l, ok := scm["labels"].(map[string]any); ok {
				for k, v := range l {
					if s, ok := v.(string); ok {
						labels[k] = s
					}
				}
			}
			var wildPorts, unitless []string
			perUnit := map[string][]string{}
			for _, t := range targets {
				target, _ := t.(string)
				host, port, hasPort := strings.Cut(target, ":")
				if strings.TrimSpace(host) == "*" {
					wildPorts = append(wildPorts, portSuffix(port, hasPort))
					continue
				}
				if u := unitFor(units, host); u != "" {
					perUnit[u] = append(perUnit[u], target)
					continue
				}
				unitless = append(unitless, target)
			}
			if len(unitless) > 0 {
				j := cloneJob(base)
				j["job_name"] = name
				j["static_configs"] = []any{staticConfig(unitless, meta.Labels(), labels)}
				j["relabel_configs"] = withInstance(base["relabel_configs"], false)
				out = append(out, j)
			}
			for _, u := range sortedUnits(units) {
				var ts []string
				for _, p := range wildPorts {
					ts = append(ts, hostPort(u.Address, p))
				}
				ts = append(ts, perUnit[u.Name]...)
				if len(ts) == 0 {
					continue
				}
				l := meta.Labels()
				l["juju_unit"] = u.Name
				j := cloneJob(base)
				j["job_name"] = name + "-" + unitNumber(u.Name)
				j["metrics_path"] = u.Path + path
				j["static_configs"] = []any{staticConfig(ts, l, labels)}
				j["relabel_configs"] = withInstance(base["relabel_configs"], true)
				out = append(out, j)
			}
		}
	}
	return dedupe(out)
}

func portSuffix(port string, has bool) string {
	if !has {
		return ""
	}
	return strings.TrimSpace(port)
}

func hostPort(host, port string) string {
	if port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}

func unitFor(units []UnitBag, host string) string {
	for _, u := range units {
		if host == u.Address || (u.FQDN != "" && host == u.FQDN) {
			return u.Name
		}
	}
	return ""
}

func sortedUnits(units []UnitBag) []UnitBag {
	byName := map[string]UnitBag{}
	for _, u := range units {
		byName[u.Name] = u
	}
	out := make([]UnitBag, 0, len(byName))
	for _, k := range sortedKeys(byName) {
		out = append(out, byName[k])
	}
	return out
}

func unitNumber(unit string) string {
	_, n, _ := strings.Cut(unit, "/")
	return n
}

func cloneJob(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+3)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func staticConfig(targets []string, topology, own map[string]string) map[string]any {
	labels := map[string]any{}
	for k, v := range topology {
		labels[k] = v
	}
	for k, v := range own {
		labels[k] = v
	}
	ts := make([]any, len(targets))
	for i, t := range targets {
		ts[i] = t
	}
	return map[string]any{"targets": ts, "labels": labels}
}

// withInstance appends the rule that sets instance from the topology labels to a job's own relabel rules.
func withInstance(own any, unit bool) []any {
	var out []any
	if l, ok := own.([]any); ok {
		out = append(out, l...)
	}
	src := []any{"juju_model", "juju_model_uuid", "juju_application"}
	if unit {
		src = append(src, "juju_unit")
	}
	return append(out, map[string]any{"source_labels": src, "separator": "_", "target_label": "instance", "regex": "(.*)"})
}

// dedupe gives a repeated job name a suffix from a digest of the job, as the consumer does.
func dedupe(jobs []map[string]any) []map[string]any {
	seen := map[string]int{}
	for _, j := range jobs {
		seen[j["job_name"].(string)]++
	}
	for _, j := range jobs {
		name := j["job_name"].(string)
		if seen[name] > 1 {
			b, _ := json.Marshal(j)
			sum := sha256.Sum256(b)
			j["job_name"] = name + "_" + hex.EncodeToString(sum[:])
		}
	}
	return jobs
}
