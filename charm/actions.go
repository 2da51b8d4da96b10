package charm

import (
	"crypto/x509"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	case "get-ca-csr":
		return r.getCACSR()
	case "set-ca-certificate":
		return r.setCACertificate()
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

// getCRL gives the CRL PEM under crl, or in parts (see putText) when it passes one argument: thousands of revoked
// serials make a CRL of hundreds of KiB.
func (r *reconciler) getCRL() error {
	crl := r.peer[peerCRL]
	if crl == "" {
		return r.hc.FailAction("no CRL is published yet")
	}
	if len(crl) > resultBudget {
		return r.hc.FailAction(fmt.Sprintf("the CRL is %d bytes, more than an action result holds; fetch it from %s.pem", len(crl), r.crlURL()))
	}
	res := map[string]string{}
	if putText(res, "crl", crl) > 1 {
		res["crl-url"] = r.crlURL() + ".pem"
	}
	return r.hc.SetActionResults(res)
}

// crlURL is where the agents serve the CRL (DER; PEM at .pem), the address the certificates name.
func (r *reconciler) crlURL() string {
	return fmt.Sprintf("http://%s.%s.svc.cluster.local:%d/crl", r.hc.Env.AppName(), r.hc.Env.ModelName, AgentPort)
}

// resultBudget bounds what one action call returns: a page of get-issued-certificates stops there. It is half of
// hooktool.MaxActionResults, the hard limit, so the other keys and the parts' framing always fit.
const resultBudget = 4 << 20

// partKey names part i (from 1) of a result split over several keys.
func partKey(key string, i int) string { return fmt.Sprintf("%s-%d", key, i) }

// partRoom is what the value of a part of key may hold in one action-set argument (room for up to 99,999 parts).
func partRoom(key string) int { return hooktool.MaxActionArg - len(key) - len("-99999=") }

// putText sets res[key] = text when it fits one action-set argument. Otherwise it cuts text at line ends into
// key-1 ... key-N, whose concatenation in order is text byte for byte, and sets key-parts = N. It returns N (1 when
// text fits under key).
func putText(res map[string]string, key, text string) int {
	if hooktool.ActionResultArgSize(key, text) <= hooktool.MaxActionArg {
		res[key] = text
		return 1
	}
	room := partRoom(key)
	n := 0
	for text != "" {
		cut := len(text)
		if cut > room {
			cut = strings.LastIndexByte(text[:room], '\n') + 1
			if cut == 0 { // no line end: cut between two UTF-8 sequences
				for cut = room; cut > 0 && !utf8.RuneStart(text[cut]); cut-- {
				}
			}
		}
		n++
		res[partKey(key, n)] = text[:cut]
		text = text[cut:]
	}
	res[key+"-parts"] = strconv.Itoa(n)
	return n
}

// putList sets res[key] to the JSON list of items (each a JSON value) when it fits one action-set argument.
// Otherwise it sets key-1 ... key-N, each a JSON list of whole items, in order, and key-parts = N. It returns N, or
// an error when one item alone passes an argument.
func putList(res map[string]string, key string, items []string) (int, error) {
	whole := "[" + strings.Join(items, ",") + "]"
	if hooktool.ActionResultArgSize(key, whole) <= hooktool.MaxActionArg {
		res[key] = whole
		return 1, nil
	}
	room := partRoom(key) - len("[]")
	var part []string
	size, n := 0, 0
	flush := func() {
		n++
		res[partKey(key, n)] = "[" + strings.Join(part, ",") + "]"
		part, size = nil, 0
	}
	for i, it := range items {
		if len(it) > room {
			return 0, fmt.Errorf("cannot return %s: item %d is %d bytes, more than one action result holds", key, i, len(it))
		}
		if len(part) > 0 && size+1+len(it) > room {
			flush()
		}
		if len(part) > 0 {
			size++
		}
		part = append(part, it)
		size += len(it)
	}
	flush()
	res[key+"-parts"] = strconv.Itoa(n)
	return n, nil
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

// getIssuedCertificates returns the certificates issued on every relation (or on relation-id), in relation order
// and then in the order of each relation's databag, from offset on: as many as limit asks (0: no limit) and
// resultBudget holds. The list is under certificates, or in parts (see putList) when it passes one argument; total
// counts every certificate matching, count those returned, and next-offset, set only when more remain, is the
// offset of the next call.
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
	offset, limit := intParam(params, "offset"), intParam(params, "limit")
	if offset < 0 || limit < 0 {
		return r.hc.FailAction("offset and limit must not be negative")
	}
	ids, err := r.hc.RelationIDs(CertificatesEndpoint)
	if err != nil {
		return err
	}
	var chosen []string
	for _, id := range ids {
		if only < 0 || hooktool.RelationNumber(id) == only {
			chosen = append(chosen, id)
		}
	}
	pg := &pager{limit: limit, budget: resultBudget}
	total, next, err := r.issuedPage(chosen, offset, pg)
	if err != nil {
		return err
	}
	res := map[string]string{"total": strconv.Itoa(total), "count": strconv.Itoa(len(pg.items))}
	if _, err := putList(res, "certificates", pg.items); err != nil {
		return r.hc.FailAction(err.Error())
	}
	if next > 0 {
		res["next-offset"] = strconv.Itoa(next)
		if err := r.hc.LogAction(fmt.Sprintf("certificates %d to %d of %d; run again with offset=%d for the next ones", offset+1, next, total, next)); err != nil {
			return err
		}
	}
	return r.hc.SetActionResults(res)
}

// issuedPage fills pg from offset on and gives the total and the next offset (0: none remain). It reads only the
// provider databags the page needs: the peer inventory, committed in the same hook as them, says how many
// certificates each holds, or a digest that it holds none (the rule the provider follows: needOwn). Should a
// relation have neither, or a databag hold another number than the inventory (another writer), every databag is
// read instead.
func (r *reconciler) issuedPage(ids []string, offset int, pg *pager) (total, next int, err error) {
	p := &provider{r: r, invByID: map[string][]InventoryEntry{}, pending: map[string]int{}, refused: map[string]int{}, written: map[string]string{}}
	if err := p.loadPeerState(); err != nil {
		return 0, 0, err
	}
	for _, id := range ids {
		n := len(p.invByID[id])
		if n == 0 && p.needOwn(id) {
			return r.issuedPageAll(ids, offset, pg)
		}
		total += n
	}
	pos := 0 // where relation id starts in the whole list
	for _, id := range ids {
		n := len(p.invByID[id])
		if n == 0 || pos+n <= offset {
			pos += n
			continue
		}
		if pg.limit > 0 && len(pg.items) == pg.limit {
			return total, pos, nil
		}
		entries, err := r.issuedOn(id)
		if err != nil {
			return 0, 0, err
		}
		if len(entries) != n {
			return r.issuedPageAll(ids, offset, pg)
		}
		for i := max(offset-pos, 0); i < n; i++ {
			if !pg.add(entries[i]) {
				return total, pos + i, nil
			}
		}
		pos += n
	}
	return total, 0, nil
}

// issuedPageAll is issuedPage reading every databag, several at once.
func (r *reconciler) issuedPageAll(ids []string, offset int, pg *pager) (total, next int, err error) {
	perRel := make([][]issued, len(ids))
	tasks := make([]func() error, len(ids))
	for i, id := range ids {
		tasks[i] = func() (err error) {
			perRel[i], err = r.issuedOn(id)
			return err
		}
	}
	if err := parallel(relationConcurrency, tasks); err != nil {
		return 0, 0, err
	}
	var all []issued
	for _, entries := range perRel {
		all = append(all, entries...)
	}
	return len(all), pg.fill(all, offset), nil
}

// issuedOn lists the certificates in this unit's application databag on relation id.
func (r *reconciler) issuedOn(id string) ([]issued, error) {
	own, err := r.hc.AppData(id, r.hc.Env.AppName())
	if err != nil {
		return nil, err
	}
	certs, _, _, _ := tlscertificates.ReadProviderBag(own)
	n := hooktool.RelationNumber(id)
	out := make([]issued, len(certs))
	for i, c := range certs {
		out[i] = issued{CSR: c.CSR, Certificate: c.Certificate, CA: c.CA, Chain: c.Chain, Revoked: c.Revoked, RelationID: n}
	}
	return out, nil
}

// pager collects one page of get-issued-certificates, JSON-encoded: at most limit entries (0: no limit) and budget
// bytes, but at least one entry, so every call makes progress.
type pager struct {
	limit, budget int
	items         []string
	size          int
}

// add encodes e into the page, or tells that the page is full.
func (p *pager) add(e issued) bool {
	if p.limit > 0 && len(p.items) == p.limit {
		return false
	}
	b := mustJSON(e)
	if len(p.items) > 0 && p.size+len(b)+1 > p.budget {
		return false
	}
	p.items = append(p.items, b)
	p.size += len(b) + 1
	return true
}

// fill adds the entries from offset on until the page is full, and gives the offset after it, or 0 when none remain.
func (p *pager) fill(all []issued, offset int) int {
	for i := offset; i < len(all); i++ {
		if !p.add(all[i]) {
			return i
		}
	}
	return 0
}

// intParam reads an integer action parameter (JSON gives numbers as float64); absent is 0.
func intParam(params map[string]any, name string) int {
	v, _ := params[name].(float64)
	return int(v)
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
	ledger, err := r.ledger()
	if err != nil {
		return err
	}
	now := r.o.Now().UTC()
	ledgerCN := make(map[string]string, len(ledger))
	for _, e := range ledger {
		ledgerCN[e.Serial] = e.CN
	}
	// cnOf is an entry's common name exactly: the ledger's, else read from its subject (RFC 4514).
	cnOf := func(e InventoryEntry) string {
		if c, ok := ledgerCN[e.Serial]; ok {
			return c
		}
		return commonName(e.Subject)
	}
	matches := map[string]map[string]bool{} // relation -> serials
	var serials []string
	notAfter := map[string]time.Time{}
	for id, entries := range p.invByID {
		for i, e := range entries {
			if e.Revoked || !(e.Serial == serial || (cn != "" && cnOf(e) == cn)) {
				continue
			}
			if matches[id] == nil {
				matches[id] = map[string]bool{}
			}
			matches[id][e.Serial] = true
			entries[i].Revoked = true
			serials = append(serials, e.Serial)
			notAfter[e.Serial] = e.NotAfter
		}
	}
	previousSerials := map[string]bool{} // issued by the previous CA, during an overlap
	// The ledger finds what the inventory no longer shows: a certificate a renewal or a rotation replaced, one of
	// a relation since removed, an agent's serving certificate. Each goes on the CRL of the CA the ledger says
	// issued it, when that CA is still trusted.
	var prevCert *x509.Certificate
	if prev := r.peer[peerPreviousCA]; prev != "" {
		prevCert, _ = ca.ParseCertificate(prev)
	}
	onCRL := map[string]bool{}
	for _, k := range []crlKeys{currentCRL, previousCRL} {
		revoked, err := r.revocationsOf(k)
		if err != nil {
			return err
		}
		for _, rv := range revoked {
			onCRL[rv.Serial] = true
		}
	}
	var untrusted, already []string
	for _, e := range ledger {
		if _, found := notAfter[e.Serial]; found || e.expired(now) || !(e.Serial == serial || (cn != "" && e.CN == cn)) {
			continue
		}
		switch {
		case onCRL[e.Serial]:
			already = append(already, e.Serial)
			continue
		case e.issuedBy(pub.cert):
		case e.issuedBy(prevCert):
			previousSerials[e.Serial] = true
		default:
			untrusted = append(untrusted, e.Serial)
			continue
		}
		serials = append(serials, e.Serial)
		notAfter[e.Serial] = time.Unix(e.NotAfter, 0).UTC()
	}
	if len(serials) == 0 {
		what := strings.TrimSpace("serial " + serialParam + " common-name " + cn)
		switch {
		case len(already) > 0:
			return r.hc.FailAction(fmt.Sprintf("%s: already revoked (%s)", what, strings.Join(already, ", ")))
		case len(untrusted) > 0:
			return r.hc.FailAction(fmt.Sprintf("%s: issued by a CA that is no longer trusted (%s); nothing to revoke", what, strings.Join(untrusted, ", ")))
		}
		return r.hc.FailAction("no issued certificate matches " + what)
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
				if prev := r.peer[peerPreviousCA]; prev != "" && c.CA == prev {
					previousSerials[serialHex(cert)] = true
				}
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
	// Each serial goes on the CRL of the CA that issued it: during a rotation's overlap, a certificate the
	// previous CA signed (not yet re-issued) is listed on that CA's CRL, the one its distribution point names.
	if err := r.revokeSerials(serials, previousSerials, notAfter, r.o.Now()); err != nil {
		return err
	}
	if err := p.savePeerState(r.peer[peerPolicy]); err != nil {
		return err
	}
	if err := r.maintainCRL(pub, r.authority); err != nil {
		return err
	}
	if err := r.commitPeer(pub); err != nil {
		return err
	}
	if err := r.hc.Log(hooktool.LevelInfo, "revoked %s", serialSummary(serials)); err != nil {
		return err
	}
	// The agent serves the new CRL now, not at the next hook.
	if err := r.syncWorkload(pub, r.probeWorkload()); err != nil {
		_ = r.hc.LogAction("the workload container is not reachable; the agent gets the new CRL at the next hook")
	}
	return r.hc.SetActionResults(r.revokeResults(serials))
}

// revokeResults gives the revoked serials (a JSON list under revoked, or in parts: see putList), their count under
// revoked-count, and the new CRL (under crl, or in parts: see putText). The revocation is committed whatever the
// size: what passes resultBudget is left out and the operator is told where to find it.
func (r *reconciler) revokeResults(serials []string) map[string]string {
	res := map[string]string{"revoked-count": strconv.Itoa(len(serials))}
	items := make([]string, len(serials))
	size := 0
	for i, s := range serials {
		items[i] = mustJSON(s)
		size += len(items[i]) + 1
	}
	room := resultBudget
	if size > room {
		_ = r.hc.LogAction("the revoked serials are too many for this result: the CRL lists them all")
	} else if _, err := putList(res, "revoked", items); err == nil { // a serial is far smaller than an argument
		room -= size
	}
	switch crl := r.peer[peerCRL]; {
	case len(crl) > room:
		res["crl-url"] = r.crlURL() + ".pem"
		_ = r.hc.LogAction("the new CRL is too large for this result: get it with get-crl or from " + res["crl-url"])
	case putText(res, "crl", crl) > 1:
		res["crl-url"] = r.crlURL() + ".pem"
	}
	return res
}

// serialSummary names the serials for the log: a few, then how many more (one juju-log argument holds 128 KiB).
func serialSummary(serials []string) string {
	const shown = 10
	if len(serials) <= shown {
		return strings.Join(serials, ", ")
	}
	return fmt.Sprintf("%s and %d more (%d in all)", strings.Join(serials[:shown], ", "), len(serials)-shown, len(serials))
}

// commonName is the common name in a subject as pkix.Name.String gives it (RFC 4514: `CN=a\,b,O=x`, "CN=x+O=y"):
// attributes are split at unescaped commas and plus signs, and the value unescaped. The first CN of the string
// is the one pkix.Name.CommonName holds (String lists the RDNs last first, and CommonName keeps the last).
func commonName(subject string) string {
	for _, attr := range splitUnescaped(subject, ",+") {
		typ, value, ok := strings.Cut(attr, "=")
		if ok && (strings.EqualFold(strings.TrimSpace(typ), "CN") || strings.TrimSpace(typ) == "2.5.4.3") {
			return unescapeDN(value)
		}
	}
	return ""
}

// splitUnescaped cuts s at every byte of seps that no backslash escapes.
func splitUnescaped(s, seps string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++ // the escaped byte, or the first of two hex digits (neither is a separator)
		case strings.IndexByte(seps, s[i]) >= 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescapeDN undoes RFC 4514 escaping: `\,` is ",", `\2C` is the byte 0x2C.
func unescapeDN(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i+1 == len(v) {
			b.WriteByte(v[i])
			continue
		}
		if i+2 < len(v) {
			if n, err := strconv.ParseUint(v[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(v[i+1])
		i++
	}
	return b.String()
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
	if r.peer[peerIssuer] != "" {
		return r.hc.FailAction("cannot rotate an intermediate CA by itself: its issuer signs it; remove the issuer relation to go back to a self-signed root, or rotate the issuer")
	}
	if r.cfg.CASecret != "" {
		// The key is the operator's: a new one from here would be replaced by the imported one at the next hook.
		return r.hc.FailAction("cannot rotate an imported CA: put the new CA in the secret ca-secret names (juju update-secret), or unset ca-secret to go back to a CA of this charm's own")
	}
	params, err := r.hc.ActionParams()
	if err != nil {
		return err
	}
	if r.peer[peerOffline] != "" {
		// An offline root's intermediate is left for a root of this charm's own: its key and certificate go.
		if err := r.dropOffline(); err != nil {
			return err
		}
	}
	if compromised, _ := params["compromised"].(bool); compromised {
		return r.rotateCompromised(pub)
	}
	if err := r.rotateNow(pub, true); err != nil {
		return err
	}
	return r.hc.SetActionResults(map[string]string{
		"new-ca-certificate": r.peer[peerNextCA],
		"message":            fmt.Sprintf("the new CA is trusted now and signs after the next update-status (at the latest %s)", r.o.Now().Add(rotationPropagation).UTC().Format(time.RFC3339)),
	})
}

// rotateNow is the tail of the actions that start a rotation (rotate-private-key, set-ca-certificate): phase
// 1 begins (force: to a new key even with no reason in the CA itself), the peer databag is written, and the
// leader's agent gets the bundle with both CAs now rather than at the next hook.
func (r *reconciler) rotateNow(pub *published, force bool) error {
	pub, err := r.rotate(pub, force)
	if err != nil {
		return err
	}
	if err := r.commitPeer(pub); err != nil {
		return err
	}
	if err := r.syncWorkload(pub, r.probeWorkload()); err != nil {
		_ = r.hc.LogAction("the workload container is not reachable; the agent gets the new bundle at the next hook")
	}
	return nil
}

// commitPeer writes an action's peer databag changes, with the serials it issued in the ledger: the leader's
// serving certificate, should the workload sync that follows need a new one, is issued before.
func (r *reconciler) commitPeer(pub *published) error {
	if _, _, err := r.servingOnce(pub); err != nil {
		return err
	}
	if err := r.stageLedger(); err != nil {
		return err
	}
	return r.flushPeer()
}

// rotateCompromised is rotate-private-key compromised=true: compromiseRotation replaces the CA at once, then, in
// this same action, every requirer's certificate is re-issued under the new CA (the provider's full scan: the CA
// that signs changed), the new CA's CRL is signed, the new bundle goes out on send-ca-cert, and the leader's agent
// serves the new bundle and the old CAs' last CRLs. The other units' agents follow at their peer hook.
func (r *reconciler) rotateCompromised(pub *published) error {
	oldSerial := pub.cert.SerialNumber
	pub, retired, err := r.compromiseRotation(pub)
	if err != nil {
		return err
	}
	r.ledgerMu.Lock()
	before := len(r.ledgerAdds)
	r.ledgerMu.Unlock()
	if err := r.serveCertificates(pub); err != nil {
		return err
	}
	r.ledgerMu.Lock()
	reissued := len(r.ledgerAdds) - before
	r.ledgerMu.Unlock()
	if err := r.maintainCRL(pub, r.authority); err != nil {
		return err
	}
	got, err := r.received()
	if err != nil {
		return err
	}
	if err := r.sendCAs(r.sentBundle(pub, got)); err != nil {
		return err
	}
	r.got = got
	if err := r.commitPeer(pub); err != nil {
		return err
	}
	revoked := 0
	var until time.Time
	var olds []string
	for _, rc := range retired {
		revoked += rc.revoked
		olds = append(olds, fmt.Sprintf("%x", rc.cert.SerialNumber))
		if rc.until.After(until) {
			until = rc.until
		}
	}
	if err := r.hc.Log(hooktool.LevelWarning, "compromise rotation: CA serial %x replaced by %x at once; CA %s left the trust bundle, its key signs nothing more and leaves the secrets at the leader's next hook; %d certificates it signed are on its last CRL (served until %s); %d certificates re-issued",
		oldSerial, pub.cert.SerialNumber, strings.Join(olds, ", "), revoked, until.Format(time.RFC3339), reissued); err != nil {
		return err
	}
	if err := r.syncWorkload(pub, r.probeWorkload()); err != nil {
		_ = r.hc.LogAction("the workload container is not reachable; the agent gets the new bundle at the next hook")
	}
	return r.hc.SetActionResults(map[string]string{
		"new-ca-certificate": pub.CA,
		"revoked-count":      strconv.Itoa(revoked),
		"reissued-count":     strconv.Itoa(reissued),
		"old-crl-until":      until.Format(time.RFC3339),
		"message": fmt.Sprintf("the new CA signs now and is the only one trusted; %d certificates of the old CA are on its last CRL, served until %s; %d certificates re-issued",
			revoked, until.Format(time.RFC3339), reissued),
	})
}
