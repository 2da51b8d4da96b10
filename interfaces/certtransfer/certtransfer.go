// Package certtransfer holds the wire format of the certificate_transfer
// interface, v1 with the v0 fallback, as the Python libraries write it, and
// pure functions that read and write the databags. Nothing here runs hook
// tools: callers pass databags in and write the maps they get back.
//
// v1: the requirer's leader writes version "1" in its app databag; the
// provider's leader then writes certificates (a JSON array of PEMs, a set)
// and version "1" in its app databag. v0, for requirers that wrote no version
// or "0": every provider unit writes ca and certificate (JSON-quoted PEMs),
// chain (a JSON array) and version "0" in its unit databag.
package certtransfer

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Databag keys.
const (
	KeyVersion      = "version"
	KeyCertificates = "certificates" // v1, provider app databag
	KeyCA           = "ca"           // v0, provider unit databag
	KeyCertificate  = "certificate"  // v0
	KeyChain        = "chain"        // v0
)

// V0Keys are the keys WriteV0 writes; ClearV0 deletes them.
var V0Keys = []string{KeyCA, KeyCertificate, KeyChain, KeyVersion}

// RequirerVersion returns the interface version a requirer asked for in its
// app databag: 1 only for exactly "1", as the Python v1 provider decides;
// anything else, missing included, is 0.
func RequirerVersion(appBag map[string]string) int {
	if appBag[KeyVersion] == "1" {
		return 1
	}
	return 0
}

// WriteRequirerV1 returns what a v1 requirer's leader writes in its app
// databag on relation-created.
func WriteRequirerV1() map[string]string {
	return map[string]string{KeyVersion: "1"}
}

// dedupe returns the distinct non-empty PEMs of set, each trimmed of
// surrounding whitespace, in their first-seen order.
func dedupe(set []string) []string {
	var out []string
	seen := make(map[string]bool, len(set))
	for _, s := range set {
		s = strings.TrimSpace(s)
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// WriteV1 returns the provider's v1 app databag for a set of PEM
// certificates: certificates is a JSON array, deduplicated and sorted so an
// unchanged set is an unchanged string (no needless relation-changed); an
// empty set is written as [] (the requirer then removes what it had).
func WriteV1(set []string) map[string]string {
	list := dedupe(set)
	sort.Strings(list)
	return map[string]string{KeyCertificates: pyList(list), KeyVersion: "1"}
}

// WriteV0 returns the provider's v0 unit databag for a set of PEM
// certificates. A v0 requirer trusts only ca, so the first member of set is
// the one written as ca and certificate: callers put the CA that signs now
// first. chain holds that one followed by the others, sorted. An empty set
// gives ClearV0: the Python v1 provider leaves stale v0 data behind, we
// remove it.
func WriteV0(set []string) map[string]string {
	list := dedupe(set)
	if len(list) == 0 {
		return ClearV0()
	}
	rest := slices.Clone(list[1:])
	sort.Strings(rest)
	chain := append([]string{list[0]}, rest...)
	return map[string]string{
		KeyCA:          pyQuote(list[0]),
		KeyCertificate: pyQuote(list[0]),
		KeyChain:       pyList(chain),
		KeyVersion:     "0",
	}
}

// ClearV0 returns the v0 keys set to "", which relation-set takes as delete.
func ClearV0() map[string]string {
	m := make(map[string]string, len(V0Keys))
	for _, k := range V0Keys {
		m[k] = ""
	}
	return m
}

// ReadV1 reads a provider's v1 app databag. It returns the certificates as a
// sorted set of single-certificate PEMs in canonical form (64 columns, no
// trailing newline), whatever spacing or bundling the provider used. A
// missing, empty or null certificates key is no certificates and no error.
// Entries that are not PEM certificates are left out and named in err, while
// the good ones are still returned: one bad entry should not untrust the
// others.
func ReadV1(appBag map[string]string) ([]string, error) {
	value := strings.TrimSpace(appBag[KeyCertificates])
	if value == "" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal([]byte(value), &list); err != nil {
		return nil, fmt.Errorf("cannot read %s: not a JSON list of strings: %w", KeyCertificates, err)
	}
	var certs []string
	var errs []error
	for i, s := range list {
		got, err := splitPEM(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot read %s[%d]: %w", KeyCertificates, i, err))
			continue
		}
		certs = append(certs, got...)
	}
	return sortedSet(certs), errors.Join(errs...)
}

// ReadV0 reads a provider unit's v0 databag: every certificate in ca,
// certificate and chain, as a sorted set like ReadV1's. ca and certificate
// may be JSON-quoted (the v1 library) or raw PEM (the v0 library); chain may
// be a JSON array or, leniently, a raw PEM bundle. Bad values are named in
// err; the certificates of the good ones are still returned.
func ReadV0(unitBag map[string]string) ([]string, error) {
	var certs []string
	var errs []error
	for _, key := range []string{KeyCA, KeyCertificate, KeyChain} {
		value := strings.TrimSpace(unitBag[key])
		if value == "" || value == "null" {
			continue
		}
		pems, err := decodeV0Value(value)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot read %s: %w", key, err))
			continue
		}
		for i, p := range pems {
			got, err := splitPEM(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("cannot read %s[%d]: %w", key, i, err))
				continue
			}
			certs = append(certs, got...)
		}
	}
	return sortedSet(certs), errors.Join(errs...)
}

// decodeV0Value turns a v0 value into PEM strings: a JSON array of strings,
// a JSON string, or raw PEM.
func decodeV0Value(value string) ([]string, error) {
	switch value[0] {
	case '[':
		var list []string
		if err := json.Unmarshal([]byte(value), &list); err != nil {
			return nil, fmt.Errorf("not a JSON list of strings: %w", err)
		}
		return list, nil
	case '"':
		var s string
		if err := json.Unmarshal([]byte(value), &s); err != nil {
			return nil, fmt.Errorf("not a JSON string: %w", err)
		}
		return []string{s}, nil
	default:
		return []string{value}, nil
	}
}

// ReadBundle returns the set of certificates a requirer should trust from
// one relation: the provider's v1 app databag, or when that holds none, the
// v0 databags of its units (all of them, merged: every unit of a provider
// writes the same). It is best effort and never fails: what cannot be read
// is left out, and callers that want to log why use ReadV1 and ReadV0.
// Unlike the Python v1 requirer, the fallback works on every call, not only
// the first of a process.
func ReadBundle(appBag map[string]string, unitBags map[string]map[string]string) []string {
	if certs, _ := ReadV1(appBag); len(certs) > 0 {
		return certs
	}
	var all []string
	for _, bag := range unitBags {
		certs, _ := ReadV0(bag)
		all = append(all, certs...)
	}
	return sortedSet(all)
}

// splitPEM splits s into its certificates, each re-encoded in canonical PEM
// so the same certificate compares equal however it was spaced. Anything
// but CERTIFICATE blocks and whitespace is an error: this feeds trust stores.
func splitPEM(s string) ([]string, error) {
	rest := []byte(strings.TrimSpace(s))
	var out []string
	for len(rest) > 0 {
		block, after := pem.Decode(rest)
		if block == nil || !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, errors.New("not PEM")
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block is %q, want \"CERTIFICATE\"", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSuffix(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})), "\n"))
		rest = bytes.TrimSpace(after)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

func sortedSet(certs []string) []string {
	if len(certs) == 0 {
		return nil
	}
	out := dedupe(certs)
	sort.Strings(out)
	return out
}
