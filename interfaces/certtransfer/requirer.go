// Package certtransfer also holds the requirer side of certificate_transfer,
// for any Go charm (requirer.go). A Requirer announces version 1 and reads the
// CA set every provider on an endpoint sends, v1 from the provider's app
// databag, else the v0 keys of its units, in one call per hook:
//
//	got, err := certtransfer.NewRequirer(hc, "receive-ca-cert").Sync()
//	if err != nil {
//		return err
//	}
//	for _, line := range got.Problems {
//		hc.Log(hooktool.LevelWarning, "%s", line)
//	}
//	changed, err := installer.Sync(got.Named()) // trust.Installer
package certtransfer

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// DefaultRequirerEndpoint is the endpoint name charms conventionally give the
// requires side.
const DefaultRequirerEndpoint = "receive-ca-cert"

// The databag keys the requirer reads and writes (SPEC §4.2).
const (
	rqKeyVersion      = "version"
	rqKeyCertificates = "certificates"
	rqKeyCA           = "ca"
	rqKeyCertificate  = "certificate"
	rqKeyChain        = "chain"
	rqVersion         = "1"
)

// Requirer is the requirer side of one certificate_transfer endpoint for one
// hook.
type Requirer struct {
	hc       *hooktool.Context
	endpoint string
}

// NewRequirer returns the requirer of endpoint ("" means
// DefaultRequirerEndpoint), working through hc.
func NewRequirer(hc *hooktool.Context, endpoint string) *Requirer {
	if endpoint == "" {
		endpoint = DefaultRequirerEndpoint
	}
	return &Requirer{hc: hc, endpoint: endpoint}
}

// Received is the CA set of every relation of the endpoint.
type Received struct {
	// ByRelation maps a relation id to its CAs: PEM without a trailing
	// newline, re-encoded so that equal certificates are equal strings,
	// without duplicates, in a stable order.
	ByRelation map[string][]string
	// Remote maps a relation id to the remote application's name.
	Remote map[string]string
	// Problems are remote-data defects that were skipped, one line each.
	Problems []string
}

// All returns the union of every relation's CAs, without duplicates, sorted.
func (r *Received) All() []string {
	var all []string
	for _, cas := range r.ByRelation {
		for _, c := range cas {
			if !slices.Contains(all, c) {
				all = append(all, c)
			}
		}
	}
	slices.Sort(all)
	return all
}

// Named returns the CAs as a name -> PEM map for trust.Installer.Sync: one
// entry per relation and CA, "<remote app>-<relation number>-<index>", so a
// CA leaves the trust store with its relation.
func (r *Received) Named() map[string]string {
	out := map[string]string{}
	for id, cas := range r.ByRelation {
		for i, c := range cas {
			out[fmt.Sprintf("%s-%d-%d", r.Remote[id], hooktool.RelationNumber(id), i)] = c
		}
	}
	return out
}

// Sync writes version "1" in this application's databag of every relation
// where it is missing (leader only: others cannot write it) and reads the CA
// set of each relation: the provider's app "certificates" when it holds any,
// else the v0 keys of its units. A relation being broken is left out, so its
// CAs leave the set in its relation-broken hook. Bad remote data never fails
// Sync; it is reported in Problems.
func (r *Requirer) Sync() (*Received, error) {
	ids, err := r.hc.RelationIDs(r.endpoint)
	if err != nil {
		return nil, fmt.Errorf("cannot read received CAs: %w", err)
	}
	out := &Received{ByRelation: map[string][]string{}, Remote: map[string]string{}}
	var leader bool
	if len(ids) > 0 {
		if leader, err = r.hc.IsLeader(); err != nil {
			return nil, fmt.Errorf("cannot read received CAs: %w", err)
		}
	}
	for _, id := range ids {
		if strings.HasSuffix(r.hc.Env.HookName, "-relation-broken") && id == r.hc.Env.RelationID {
			continue
		}
		if leader {
			own, err := r.hc.AppData(id, r.hc.Env.AppName())
			if err != nil {
				return nil, fmt.Errorf("cannot announce certificate_transfer version: %w", err)
			}
			if own[rqKeyVersion] != rqVersion {
				if err := r.hc.SetAppData(id, map[string]string{rqKeyVersion: rqVersion}); err != nil {
					return nil, fmt.Errorf("cannot announce certificate_transfer version: %w", err)
				}
			}
		}
		remote, err := r.hc.RemoteApp(id)
		if err != nil {
			return nil, fmt.Errorf("cannot read received CAs: %w", err)
		}
		out.Remote[id] = remote
		bag, err := r.hc.AppData(id, remote)
		if err != nil {
			return nil, fmt.Errorf("cannot read received CAs: %w", err)
		}
		cas, problems := ReadRequirerV1(bag)
		out.Problems = append(out.Problems, prefixed(id, remote, problems)...)
		if len(cas) == 0 {
			units, err := r.hc.RelationUnits(id)
			if err != nil {
				return nil, fmt.Errorf("cannot read received CAs: %w", err)
			}
			for _, u := range units {
				bag, err := r.hc.UnitData(id, u)
				if err != nil {
					return nil, fmt.Errorf("cannot read received CAs: %w", err)
				}
				got, problems := ReadRequirerV0(bag)
				out.Problems = append(out.Problems, prefixed(id, u, problems)...)
				cas = mergeCAs(cas, got)
			}
		}
		if len(cas) > 0 {
			out.ByRelation[id] = cas
		}
	}
	return out, nil
}

func prefixed(id, who string, problems []string) []string {
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = fmt.Sprintf("relation %s, %s: %s", id, who, p)
	}
	return out
}

// ReadRequirerV1 reads a v1 provider's app databag as a requirer does:
// "certificates", a JSON array of PEM strings. Each item may hold several
// certificates; an item that does not parse is skipped and reported.
func ReadRequirerV1(bag map[string]string) (cas []string, problems []string) {
	v := strings.TrimSpace(bag[rqKeyCertificates])
	if v == "" || v == "null" {
		return nil, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(v), &list); err != nil {
		return nil, []string{fmt.Sprintf("%s unreadable: %v", rqKeyCertificates, err)}
	}
	for i, raw := range list {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			problems = append(problems, fmt.Sprintf("%s[%d] skipped: not a string", rqKeyCertificates, i))
			continue
		}
		certs, err := ca.ParseCertificates(s)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s[%d] skipped: %v", rqKeyCertificates, i, err))
			continue
		}
		cas = mergeCAs(cas, encodeAll(certs))
	}
	return cas, problems
}

// ReadRequirerV0 reads one provider unit's v0 databag: "ca" and "chain"
// (a JSON array), PEM values raw or JSON-quoted (v0 providers write raw PEM,
// the v1 library's fallback JSON-quotes them). The CAs are "ca" and the
// members of "chain" that are CA or self-signed certificates: a v0 chain may
// start with a leaf, which is not something to trust.
func ReadRequirerV0(bag map[string]string) (cas []string, problems []string) {
	if v := strings.TrimSpace(bag[rqKeyCA]); v != "" {
		certs, err := ca.ParseCertificates(unquote(v))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s skipped: %v", rqKeyCA, err))
		} else {
			cas = mergeCAs(cas, encodeAll(certs))
		}
	}
	if v := strings.TrimSpace(bag[rqKeyChain]); v != "" {
		var chain []string
		if err := json.Unmarshal([]byte(v), &chain); err != nil {
			problems = append(problems, fmt.Sprintf("%s unreadable: %v", rqKeyChain, err))
		}
		for i, p := range chain {
			certs, err := ca.ParseCertificates(unquote(strings.TrimSpace(p)))
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s[%d] skipped: %v", rqKeyChain, i, err))
				continue
			}
			var keep []*x509.Certificate
			for _, c := range certs {
				if c.IsCA || c.CheckSignatureFrom(c) == nil {
					keep = append(keep, c)
				}
			}
			cas = mergeCAs(cas, encodeAll(keep))
		}
	}
	return cas, problems
}

// unquote returns s JSON-decoded when it is a JSON string, else s.
func unquote(s string) string {
	if strings.HasPrefix(s, `"`) {
		var out string
		if json.Unmarshal([]byte(s), &out) == nil {
			return out
		}
	}
	return s
}

func encodeAll(certs []*x509.Certificate) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = ca.EncodeCertificate(c)
	}
	return out
}

// mergeCAs adds the new PEMs missing from cas and keeps the result sorted, so
// the set reads the same whatever order the provider wrote it in.
func mergeCAs(cas, more []string) []string {
	for _, c := range more {
		if !slices.Contains(cas, c) {
			cas = append(cas, c)
		}
	}
	slices.Sort(cas)
	return cas
}

// WriteRequirerVersion returns what a v1 requirer's leader writes in its app
// databag: exactly {"version": "1"}.
func WriteRequirerVersion() map[string]string {
	return map[string]string{rqKeyVersion: rqVersion}
}
