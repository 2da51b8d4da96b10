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
	"fmt"
	"slices"
	"strings"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// DefaultRequirerEndpoint is the endpoint name charms conventionally give the
// requires side.
const DefaultRequirerEndpoint = "receive-ca-cert"

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
// set of each relation: the provider's app "certificates" when it holds any
// (ReadV1), else the v0 keys of its units (ReadV0, keeping only CA or
// self-signed certificates). A relation being broken is left out, so its
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
			if RequirerVersion(own) != 1 {
				if err := r.hc.SetAppData(id, WriteRequirerV1()); err != nil {
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
		cas, err := ReadV1(bag)
		out.Problems = append(out.Problems, prefixed(id, remote, splitErrors(err))...)
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
				got, err := ReadV0(bag)
				out.Problems = append(out.Problems, prefixed(id, u, splitErrors(err))...)
				cas = mergeCAs(cas, trustAnchors(got))
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

// splitErrors turns ReadV1's and ReadV0's joined error into lines.
func splitErrors(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// trustAnchors keeps the certificates of a v0 bundle that are CA or
// self-signed: a v0 provider's chain and certificate may be a leaf, which is
// nothing to trust (the Python v0 requirer hands it over as "certificate",
// not as "ca").
func trustAnchors(pems []string) []string {
	var out []string
	for _, p := range pems {
		c, err := ca.ParseCertificate(p)
		if err != nil {
			continue
		}
		if c.IsCA || c.CheckSignatureFrom(c) == nil {
			out = append(out, p)
		}
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
