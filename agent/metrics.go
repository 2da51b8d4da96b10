package agent

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"time"
)

// InventoryEntry is one issued certificate in inventory.json (a JSON array of
// them), written by the charm.
type InventoryEntry struct {
	Serial   string    `json:"serial"`
	Subject  string    `json:"subject"`
	SANs     []string  `json:"sans,omitempty"`
	NotAfter time.Time `json:"not_after"` // RFC 3339
	Relation string    `json:"relation,omitempty"`
	Unit     string    `json:"unit,omitempty"`
	Revoked  bool      `json:"revoked,omitempty"`
}

// ParseInventory parses inventory.json.
func ParseInventory(data []byte) ([]InventoryEntry, error) {
	var entries []InventoryEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("cannot parse inventory: %w", err)
	}
	return entries, nil
}

// metricsContentType is Prometheus' text exposition format, version 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// The metrics are written by hand in the text format: a handful of gauges do
// not justify client_golang's dependency tree in a binary shipped in an image.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	var m metricsWriter
	now := time.Now()

	m.family("tls_authority_ca_expiry_timestamp_seconds", "Not-after of each CA certificate in ca.pem, as a Unix timestamp.")
	if certs, err := s.caCerts(); err == nil {
		for _, c := range certs {
			m.sample("tls_authority_ca_expiry_timestamp_seconds", labels{"serial", c.SerialNumber.Text(16), "subject", c.Subject.String()}, c.NotAfter.Unix())
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("cannot read CA for metrics", "error", err)
	}

	if f, err := s.files.get(CRLFile); err == nil {
		if crl, err := f.derive(func(d []byte) (any, error) { return x509.ParseRevocationList(d) }); err == nil {
			list := crl.(*x509.RevocationList)
			m.family("tls_authority_crl_next_update_timestamp_seconds", "Next-update of the served CRL, as a Unix timestamp.")
			m.sample("tls_authority_crl_next_update_timestamp_seconds", nil, list.NextUpdate.Unix())
			m.family("tls_authority_crl_revoked_certificates", "Entries in the served CRL.")
			m.sample("tls_authority_crl_revoked_certificates", nil, int64(len(list.RevokedCertificateEntries)))
		}
	}

	f, err := s.files.get(InventoryFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot read inventory", "error", err)
		}
	} else {
		parsed, err := f.derive(func(d []byte) (any, error) { return ParseInventory(d) })
		m.family("tls_authority_inventory_valid", "1 when inventory.json parses, 0 otherwise.")
		if err != nil {
			s.log.Warn("cannot use inventory", "error", err)
			m.sample("tls_authority_inventory_valid", nil, 0)
		} else {
			m.sample("tls_authority_inventory_valid", nil, 1)
			writeInventory(&m, parsed.([]InventoryEntry), now)
		}
	}

	w.Header().Set("Content-Type", metricsContentType)
	w.Write([]byte(m.String()))
}

func writeInventory(m *metricsWriter, entries []InventoryEntry, now time.Time) {
	var revoked, outstanding int64
	// One series per (serial, subject): a duplicate series would make the
	// whole scrape invalid, so the last entry wins.
	expiry := make(map[[2]string]int64)
	for _, e := range entries {
		if e.Revoked {
			revoked++
		} else if e.NotAfter.After(now) {
			outstanding++
		}
		expiry[[2]string{e.Serial, e.Subject}] = e.NotAfter.Unix()
	}
	m.family("tls_authority_certificates_issued", "Certificates in the inventory of issued certificates.")
	m.sample("tls_authority_certificates_issued", nil, int64(len(entries)))
	m.family("tls_authority_certificates_revoked", "Issued certificates that are revoked.")
	m.sample("tls_authority_certificates_revoked", nil, revoked)
	m.family("tls_authority_certificates_outstanding", "Issued certificates neither revoked nor expired.")
	m.sample("tls_authority_certificates_outstanding", nil, outstanding)
	m.family("tls_authority_certificate_expiry_timestamp_seconds", "Not-after of each issued certificate, as a Unix timestamp.")
	keys := make([][2]string, 0, len(expiry))
	for k := range expiry {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		m.sample("tls_authority_certificate_expiry_timestamp_seconds", labels{"serial", k[0], "subject", k[1]}, expiry[k])
	}
}

// labels are name, value pairs.
type labels []string

type metricsWriter struct{ strings.Builder }

func (m *metricsWriter) family(name, help string) {
	fmt.Fprintf(m, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
}

func (m *metricsWriter) sample(name string, l labels, value int64) {
	m.WriteString(name)
	if len(l) > 0 {
		m.WriteByte('{')
		for i := 0; i+1 < len(l); i += 2 {
			if i > 0 {
				m.WriteByte(',')
			}
			fmt.Fprintf(m, `%s="%s"`, l[i], escapeLabel(l[i+1]))
		}
		m.WriteByte('}')
	}
	fmt.Fprintf(m, " %d\n", value)
}

// escapeLabel escapes a label value as the text format requires.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(v string) string { return labelEscaper.Replace(v) }
