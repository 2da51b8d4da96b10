package agent

import (
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// InventoryEntry is one issued certificate in inventory.json (a JSON array of
// them), written by the charm.
type InventoryEntry struct {
	Serial    string    `json:"serial"`
	Subject   string    `json:"subject"`
	SANs      []string  `json:"sans,omitempty"`
	NotBefore time.Time `json:"not_before"` // RFC 3339; zero in inventories of older charms
	NotAfter  time.Time `json:"not_after"`  // RFC 3339
	Relation  string    `json:"relation,omitempty"`
	Unit      string    `json:"unit,omitempty"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// ParseInventory parses inventory.json.
func ParseInventory(data []byte) ([]InventoryEntry, error) {
	var entries []InventoryEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("cannot parse inventory: %w", err)
	}
	return entries, nil
}

// Counts is counts.json, written by the charm: the totals its status line shows. Outstanding are requests left
// waiting for a later hook (certificate-limit), refused are requests refused by policy.
type Counts struct {
	Issued      int `json:"issued"`
	Outstanding int `json:"outstanding"`
	Refused     int `json:"refused"`
	Revoked     int `json:"revoked"`
}

// MaxCertificateSeries bounds the series of the per-certificate metrics. They are labelled by relation and unit
// only (never serial or subject), so there is one series per requirer unit (or application, for app-mode
// requests) whatever it has been issued; past this many, the units whose certificates expire first are kept and
// tls_authority_certificate_series_dropped counts the rest.
const MaxCertificateSeries = 1000

var (
	descCAExpiry = prometheus.NewDesc("tls_authority_ca_expiry_timestamp_seconds",
		"Not-after of each CA certificate the agent serves (trust bundle, chain: the intermediate's and its parents' too), as a Unix timestamp.",
		[]string{"subject", "serial", "key_id"}, nil)
	descCertExpiry = prometheus.NewDesc("tls_authority_certificate_expiry_timestamp_seconds",
		"Earliest not-after of the unrevoked certificates issued to a unit on a relation, as a Unix timestamp.",
		[]string{"relation", "unit"}, nil)
	descCertLife = prometheus.NewDesc("tls_authority_certificate_life_used_ratio",
		"Largest fraction of its validity that an unrevoked certificate issued to a unit on a relation has used (above 1: expired).",
		[]string{"relation", "unit"}, nil)
	descDropped = prometheus.NewDesc("tls_authority_certificate_series_dropped",
		fmt.Sprintf("Relation and unit pairs left out of the per-certificate metrics (at most %d series).", MaxCertificateSeries), nil, nil)
	descIssued = prometheus.NewDesc("tls_authority_certificates_issued",
		"Unrevoked certificates in the inventory.", nil, nil)
	descRevoked = prometheus.NewDesc("tls_authority_certificates_revoked",
		"Revoked certificates in the inventory.", nil, nil)
	descExpired = prometheus.NewDesc("tls_authority_certificates_expired",
		"Unrevoked certificates in the inventory past their not-after.", nil, nil)
	descOutstanding = prometheus.NewDesc("tls_authority_requests_outstanding",
		"Certificate requests left waiting for a later hook.", nil, nil)
	descRefused = prometheus.NewDesc("tls_authority_requests_refused",
		"Certificate requests refused by the signing policy.", nil, nil)
	descInventoryValid = prometheus.NewDesc("tls_authority_inventory_valid",
		"1 when inventory.json parses, 0 otherwise.", nil, nil)
	descCRLNext = prometheus.NewDesc("tls_authority_crl_next_update_timestamp_seconds",
		"Next-update of each CA's CRL, as a Unix timestamp.", []string{"key_id"}, nil)
	descCRLRevoked = prometheus.NewDesc("tls_authority_crl_revoked_certificates",
		"Entries in each CA's CRL.", []string{"key_id"}, nil)
)

// newRegistry holds the agent's metrics: what the files say, and the process' and Go runtime's own.
func (s *Server) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &fileCollector{s: s})
	return reg
}

func (s *Server) metricsHandler() http.Handler {
	// Uncompressed: gzip would cost more CPU than the bytes it saves between a pod and its Prometheus.
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, DisableCompression: true})
}

// fileCollector computes the metrics from the files at each scrape; what is parsed from a file is kept until the
// file changes (files.derive), so a scrape only walks the parsed inventory.
type fileCollector struct{ s *Server }

func (c *fileCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCAExpiry, descCertExpiry, descCertLife, descDropped, descIssued, descRevoked,
		descExpired, descOutstanding, descRefused, descInventoryValid, descCRLNext, descCRLRevoked} {
		ch <- d
	}
}

func (c *fileCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	now := s.now()
	names, err := s.dirNames()
	if err != nil {
		s.log.Warn("cannot list files for metrics", "error", err)
		return
	}
	c.collectCAs(ch, names)
	c.collectCRLs(ch, names)
	c.collectInventory(ch, now)
	if f, err := s.files.get(CountsFile); err == nil {
		v, err := f.derive(func(d []byte) (any, error) {
			var n Counts
			err := json.Unmarshal(d, &n)
			return n, err
		})
		if err == nil {
			n := v.(Counts)
			ch <- prometheus.MustNewConstMetric(descOutstanding, prometheus.GaugeValue, float64(n.Outstanding))
			ch <- prometheus.MustNewConstMetric(descRefused, prometheus.GaugeValue, float64(n.Refused))
		} else {
			s.log.Warn("cannot use counts", "error", err)
		}
	}
}

func (s *Server) dirNames() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// collectCAs reports every CA certificate in every PEM file the charm pushed (ca.pem, chain.pem, and whatever
// bundle or chain file it adds), each once.
func (c *fileCollector) collectCAs(ch chan<- prometheus.Metric, names []string) {
	type key struct{ subject, serial, keyID string }
	seen := map[key]bool{}
	for _, name := range names {
		if !strings.HasSuffix(name, ".pem") || strings.HasPrefix(name, "crl") {
			continue
		}
		f, err := c.s.files.get(name)
		if err != nil {
			continue
		}
		v, err := f.derive(func(d []byte) (any, error) { return parseCerts(d) })
		if err != nil {
			continue // not a certificate file
		}
		for _, cert := range v.([]*x509.Certificate) {
			if !cert.IsCA {
				continue
			}
			k := key{cert.Subject.String(), cert.SerialNumber.Text(16), keyID(cert)}
			if seen[k] {
				continue
			}
			seen[k] = true
			ch <- prometheus.MustNewConstMetric(descCAExpiry, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), k.subject, k.serial, k.keyID)
		}
	}
}

// keyID names a CA as the charm does (crl-<id>): its subject key identifier, else a digest of its public key.
func keyID(cert *x509.Certificate) string {
	if len(cert.SubjectKeyId) > 0 {
		return hex.EncodeToString(cert.SubjectKeyId)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:20])
}

// collectCRLs reports each CA's CRL (crl-<id>.der), or the single crl.der of an older charm.
func (c *fileCollector) collectCRLs(ch chan<- prometheus.Metric, names []string) {
	var files []string
	for _, name := range names {
		if id, ok := strings.CutSuffix(strings.TrimPrefix(name, CRLPrefix), ".der"); ok && strings.HasPrefix(name, CRLPrefix) && isCRLID(id) {
			files = append(files, name)
		}
	}
	if len(files) == 0 && slices.Contains(names, CRLFile) {
		files = []string{CRLFile}
	}
	for _, name := range files {
		f, err := c.s.files.get(name)
		if err != nil {
			continue
		}
		v, err := f.derive(func(d []byte) (any, error) { return x509.ParseRevocationList(d) })
		if err != nil {
			c.s.log.Warn("cannot parse CRL for metrics", "file", name, "error", err)
			continue
		}
		list := v.(*x509.RevocationList)
		id := hex.EncodeToString(list.AuthorityKeyId)
		if s, ok := strings.CutPrefix(strings.TrimSuffix(name, ".der"), CRLPrefix); ok {
			id = s
		}
		ch <- prometheus.MustNewConstMetric(descCRLNext, prometheus.GaugeValue, float64(list.NextUpdate.Unix()), id)
		ch <- prometheus.MustNewConstMetric(descCRLRevoked, prometheus.GaugeValue, float64(len(list.RevokedCertificateEntries)), id)
	}
}

// holder is what one relation and unit hold: the validity of each unrevoked certificate issued to it.
type holder struct {
	relation, unit string
	firstExpiry    time.Time
	validities     [][2]time.Time // not-before, not-after
}

// inventorySummary is the inventory as the metrics need it, computed once per version of the file.
type inventorySummary struct {
	holders []*holder // the MaxCertificateSeries whose certificates expire first
	dropped int
	revoked int
	issued  []time.Time // not-after of each unrevoked certificate
}

func summarize(entries []InventoryEntry) *inventorySummary {
	sum := &inventorySummary{}
	byKey := map[[2]string]*holder{}
	for _, e := range entries {
		if e.Revoked {
			sum.revoked++
			continue
		}
		sum.issued = append(sum.issued, e.NotAfter)
		k := [2]string{e.Relation, e.Unit}
		h := byKey[k]
		if h == nil {
			h = &holder{relation: e.Relation, unit: e.Unit, firstExpiry: e.NotAfter}
			byKey[k] = h
			sum.holders = append(sum.holders, h)
		}
		if e.NotAfter.Before(h.firstExpiry) {
			h.firstExpiry = e.NotAfter
		}
		h.validities = append(h.validities, [2]time.Time{e.NotBefore, e.NotAfter})
	}
	slices.SortFunc(sum.holders, func(a, b *holder) int {
		return cmp.Or(a.firstExpiry.Compare(b.firstExpiry), cmp.Compare(a.relation, b.relation), cmp.Compare(a.unit, b.unit))
	})
	if len(sum.holders) > MaxCertificateSeries {
		sum.dropped = len(sum.holders) - MaxCertificateSeries
		sum.holders = sum.holders[:MaxCertificateSeries]
	}
	return sum
}

func (c *fileCollector) collectInventory(ch chan<- prometheus.Metric, now time.Time) {
	f, err := c.s.files.get(InventoryFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.s.log.Warn("cannot read inventory", "error", err)
		}
		return
	}
	v, err := f.derive(func(d []byte) (any, error) {
		entries, err := ParseInventory(d)
		if err != nil {
			return nil, err
		}
		return summarize(entries), nil
	})
	if err != nil {
		c.s.log.Warn("cannot use inventory", "error", err)
		ch <- prometheus.MustNewConstMetric(descInventoryValid, prometheus.GaugeValue, 0)
		return
	}
	sum := v.(*inventorySummary)
	ch <- prometheus.MustNewConstMetric(descInventoryValid, prometheus.GaugeValue, 1)
	expired := 0
	for _, na := range sum.issued {
		if !na.After(now) {
			expired++
		}
	}
	ch <- prometheus.MustNewConstMetric(descIssued, prometheus.GaugeValue, float64(len(sum.issued)))
	ch <- prometheus.MustNewConstMetric(descRevoked, prometheus.GaugeValue, float64(sum.revoked))
	ch <- prometheus.MustNewConstMetric(descExpired, prometheus.GaugeValue, float64(expired))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.GaugeValue, float64(sum.dropped))
	for _, h := range sum.holders {
		ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, float64(h.firstExpiry.Unix()), h.relation, h.unit)
		used, known := 0.0, false
		for _, v := range h.validities {
			life := v[1].Sub(v[0])
			if v[0].IsZero() || life <= 0 {
				continue // an older charm's entry: no not-before
			}
			used, known = max(used, float64(now.Sub(v[0]))/float64(life)), true
		}
		if known {
			ch <- prometheus.MustNewConstMetric(descCertLife, prometheus.GaugeValue, used, h.relation, h.unit)
		}
	}
}
