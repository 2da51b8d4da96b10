package charm

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

func (r *reconciler) runAction(name string) error {
	if err := r.load(); err != nil {
		return err
	}
	switch name {
	case "get-ca-certificate":
		return r.getCACertificate()
	case "get-crl":
		return r.getCRL()
	case "get-issued-certificates":
		return r.getIssuedCertificates()
	case "revoke-certificate":
		return r.revokeCertificate()
	case "rotate-private-key":
		return r.rotatePrivateKey()
	}
	return r.hc.FailAction(fmt.Sprintf("unknown action %q", name))
}

// getCACertificate works on every unit: the CA certificate is public and published in the peer databag.
func (r *reconciler) getCACertificate() error {
	pub, err := r.published()
	if err != nil {
		return err
	}
	if pub.CA == "" {
		return r.hc.FailAction("the CA is not created yet")
	}
	res := map[string]string{"ca-certificate": pub.CA}
	if len(pub.Parents) > 0 {
		res["ca-chain"] = strings.Join(pub.Chain(), "\n")
	}
	return r.hc.SetActionResults(res)
}

func (r *reconciler) getCRL() error {
	if r.peer[peerCRL] == "" {
		return r.hc.FailAction("no CRL is published yet")
	}
	return r.hc.SetActionResults(map[string]string{"crl": r.peer[peerCRL]})
}

// requireLeader fails the action on a non-leader: only the leader reads its app databags and holds the key.
func (r *reconciler) requireLeader(action string) (bool, error) {
	if r.leader {
		return true, nil
	}
	return false, r.hc.FailAction(fmt.Sprintf("%s must run on the leader unit", action))
}

type issued struct {
	CSR         string   `json:"csr"`
	Certificate string   `json:"certificate"`
	CA          string   `json:"ca"`
	Chain       []string `json:"chain"`
	Revoked     bool     `json:"revoked"`
	RelationID  int      `json:"relation_id"`
}

func (r *reconciler) getIssuedCertificates() error {
	if ok, err := r.requireLeader("get-issued-certificates"); !ok {
		return err
	}
	params, err := r.hc.ActionParams()
	if err != nil {
		return err
	}
	only := -1
	if v, ok := params["relation-id"].(float64); ok {
		only = int(v)
	}
	ids, err := r.hc.RelationIDs(CertificatesEndpoint)
	if err != nil {
		return err
	}
	out := []issued{}
	for _, id := range ids {
		n := hooktool.RelationNumber(id)
		if only >= 0 && n != only {
			continue
		}
		own, err := r.hc.AppData(id, r.hc.Env.AppName())
		if err != nil {
			return err
		}
		certs, _, _, _ := tlscertificates.ReadProviderBag(own)
		for _, c := range certs {
			out = append(out, issued{CSR: c.CSR, Certificate: c.Certificate, CA: c.CA, Chain: c.Chain, Revoked: c.Revoked, RelationID: n})
		}
	}
	return r.hc.SetActionResults(map[string]string{"certificates": mustJSON(out)})
}

// revokeCertificate marks matching entries revoked in their relations, adds their serials to the revoked list
// and publishes a new CRL, all in this action's one commit.
func (r *reconciler) revokeCertificate() error {
	if ok, err := r.requireLeader("revoke-certificate"); !ok {
		return err
	}
	params, err := r.hc.ActionParams()
	if err != nil {
		return err
	}
	serialParam, _ := params["serial"].(string)
	cn, _ := params["common-name"].(string)
	if (serialParam == "") == (cn == "") {
		return r.hc.FailAction("give exactly one of serial or common-name")
	}
	var serial string
	if serialParam != "" {
		if serial, err = normalizeSerial(serialParam); err != nil {
			return r.hc.FailAction(err.Error())
		}
	}
	pub, err := r.published()
	if err != nil {
		return err
	}
	if pub.CA == "" || r.peerID == "" {
		return r.hc.FailAction("the CA is not created yet")
	}
	p := newProvider(r, pub)
	if err := p.loadPeerState(); err != nil {
		return err
	}
	matches := map[string]map[string]bool{} // relation -> serials
	var serials []string
	for id, entries := range p.invByID {
		for i, e := range entries {
			if e.Revoked || !(e.Serial == serial || (cn != "" && commonName(e.Subject) == cn)) {
				continue
			}
			if matches[id] == nil {
				matches[id] = map[string]bool{}
			}
			matches[id][e.Serial] = true
			entries[i].Revoked = true
			serials = append(serials, e.Serial)
		}
	}
	if len(serials) == 0 {
		return r.hc.FailAction("no issued certificate matches " + strings.TrimSpace("serial "+serialParam+" common-name "+cn))
	}
	sort.Strings(serials)
	for id, set := range matches {
		own, err := r.hc.AppData(id, r.hc.Env.AppName())
		if err != nil {
			return err
		}
		certs, _, _, _ := tlscertificates.ReadProviderBag(own)
		for i, c := range certs {
			cert, err := ca.ParseCertificate(c.Certificate)
			if err == nil && set[serialHex(cert)] {
				certs[i].Revoked = true
			}
		}
		// Only the certificates key changes: request_errors and capabilities stay byte for byte.
		value := tlscertificates.WriteProviderBag(certs, nil, nil)[tlscertificates.KeyCertificates]
		if value != own[tlscertificates.KeyCertificates] {
			if err := r.hc.SetAppData(id, map[string]string{tlscertificates.KeyCertificates: value}); err != nil {
				return err
			}
			p.written[id] = "" // unknown: the next scan reads the databag again
		}
	}
	revoked, err := r.revocations()
	if err != nil {
		return err
	}
	now := r.o.Now().UTC()
	for _, s := range serials {
		revoked = append(revoked, revocation{Serial: s, RevokedAt: now})
	}
	if err := r.setPeer(map[string]string{peerRevoked: mustJSON(revoked)}); err != nil {
		return err
	}
	if err := p.savePeerState(r.peer[peerPolicy]); err != nil {
		return err
	}
	if err := r.maintainCRL(pub, r.authority); err != nil {
		return err
	}
	if err := r.flushPeer(); err != nil {
		return err
	}
	if err := r.hc.Log(hooktool.LevelInfo, "revoked %s", strings.Join(serials, ", ")); err != nil {
		return err
	}
	// The agent serves the new CRL now, not at the next hook.
	if err := r.syncWorkload(pub); err != nil {
		_ = r.hc.LogAction("the workload container is not reachable; the agent gets the new CRL at the next hook")
	}
	return r.hc.SetActionResults(map[string]string{"revoked": mustJSON(serials), "crl": r.peer[peerCRL]})
}

// commonName extracts CN from a pkix.Name string ("CN=a,O=b").
func commonName(subject string) string {
	for _, part := range strings.Split(subject, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "CN="); ok {
			return v
		}
	}
	return ""
}

func (r *reconciler) rotatePrivateKey() error {
	if ok, err := r.requireLeader("rotate-private-key"); !ok {
		return err
	}
	if r.cfgErr != nil {
		return r.hc.FailAction("cannot rotate with invalid config: " + r.cfgErr.Error())
	}
	pub, err := r.published()
	if err != nil {
		return err
	}
	if pub.CA == "" {
		return r.hc.FailAction("the CA is not created yet")
	}
	if pub, err = r.rotate(pub, true); err != nil {
		return err
	}
	if err := r.flushPeer(); err != nil {
		return err
	}
	if err := r.syncWorkload(pub); err != nil {
		_ = r.hc.LogAction("the workload container is not reachable; the agent gets the new bundle at the next hook")
	}
	return r.hc.SetActionResults(map[string]string{
		"new-ca-certificate": r.peer[peerNextCA],
		"message":            fmt.Sprintf("the new CA is trusted now and signs after the next update-status (at the latest %s)", r.o.Now().Add(rotationPropagation).UTC().Format(time.RFC3339)),
	})
}
