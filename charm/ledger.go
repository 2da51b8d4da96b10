package charm

// ledger.go keeps the serial ledger: every serial this authority issued, until it expires, with the CA that
// issued it and who holds it, so that revoke-certificate finds a certificate the inventory no longer shows (one a
// renewal or a rotation replaced, one of a relation since removed, a unit's agent serving certificate), and a
// compromise rotation lists everything the compromised CA signed on its last CRL.
//
// It lives in the peer application databag (the leader writes it), in chunks of ledgerChunk entries under
// ledger-<n>: an issuance rewrites the last chunk only, not the whole ledger. An entry is a JSON array
// [serial, ca, not-after, holder, cn] (see ledgerEntry), about 130 bytes: 10,000 entries are 1.3 MB, well
// under the size Juju allows one relation's settings (a MongoDB document, 16 MiB). next-ledger-expiry is the
// earliest expiry in the ledger: a hook compares it with the clock and parses the ledger only once an entry has
// expired, to drop it.

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Peer keys of the serial ledger.
const (
	peerLedgerPrefix = "ledger-"            // + chunk number: JSON list of ledgerEntry
	peerLedgerExpiry = "next-ledger-expiry" // unix seconds: the earliest not-after in the ledger
)

// ledgerChunk is how many entries a ledger key holds (about 65 KB).
const ledgerChunk = 500

// ledgerCALen is how much of the issuing CA's key id (crlKeyID, hex) an entry keeps: 64 bits tell the few CAs an
// authority has trusted apart.
const ledgerCALen = 16

// ledgerEntry is one issued serial.
type ledgerEntry struct {
	Serial   string // lower-case hex, as serialHex
	CA       string // the first ledgerCALen characters of the issuing CA's crlKeyID
	NotAfter int64  // unix seconds
	Holder   string // "<relation id>/<unit or app>" for a requirer certificate, "serving:<unit>" for an agent's
	CN       string // the subject's common name, exactly (revoke-certificate by common name)
}

func (e ledgerEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{e.Serial, e.CA, e.NotAfter, e.Holder, e.CN})
}

func (e *ledgerEntry) UnmarshalJSON(b []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) < 5 {
		return fmt.Errorf("cannot read a ledger entry of %d fields", len(a))
	}
	for i, dst := range []any{&e.Serial, &e.CA, &e.NotAfter, &e.Holder, &e.CN} {
		if err := json.Unmarshal(a[i], dst); err != nil {
			return fmt.Errorf("cannot read a ledger entry: %w", err)
		}
	}
	return nil
}

// expired tells whether the certificate has expired at now: no relying party accepts it any more.
func (e ledgerEntry) expired(now time.Time) bool { return now.Unix() > e.NotAfter }

// issuedBy tells whether the CA cert issued the entry's certificate.
func (e ledgerEntry) issuedBy(cert *x509.Certificate) bool {
	return cert != nil && e.CA == ledgerCA(crlKeyID(cert))
}

func ledgerCA(keyID string) string {
	if len(keyID) > ledgerCALen {
		return keyID[:ledgerCALen]
	}
	return keyID
}

// servingHolder is the ledger holder of a unit's agent serving certificate.
func servingHolder(unit string) string { return "serving:" + unit }

// recordIssued notes a certificate this authority just issued, for the ledger. The entries are staged into the
// peer databag by stageLedger, with the hook's one peer write. Safe to call from concurrent signings; a non-leader
// keeps nothing (it cannot write the application databag).
func (r *reconciler) recordIssued(cert *x509.Certificate, holder string) {
	if !r.leader || cert == nil {
		return
	}
	id := hex.EncodeToString(cert.AuthorityKeyId)
	r.ledgerMu.Lock()
	defer r.ledgerMu.Unlock()
	r.ledgerAdds = append(r.ledgerAdds, ledgerEntry{
		Serial: serialHex(cert), CA: ledgerCA(id), NotAfter: cert.NotAfter.Unix(), Holder: holder, CN: cert.Subject.CommonName,
	})
}

// ledgerKeys lists the ledger's chunk keys in order.
func ledgerKeys(peer map[string]string) []string {
	var nums []int
	for k := range peer {
		if s, ok := strings.CutPrefix(k, peerLedgerPrefix); ok {
			if n, err := strconv.Atoi(s); err == nil {
				nums = append(nums, n)
			}
		}
	}
	slices.Sort(nums)
	keys := make([]string, len(nums))
	for i, n := range nums {
		keys[i] = peerLedgerPrefix + strconv.Itoa(n)
	}
	return keys
}

func ledgerKeyNumber(k string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(k, peerLedgerPrefix))
	return n
}

func (r *reconciler) ledgerChunkOf(k string) ([]ledgerEntry, error) {
	var out []ledgerEntry
	if s := r.peer[k]; s != "" {
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("cannot parse the serial ledger in the peer databag (%s): %w", k, err)
		}
	}
	return out, nil
}

// ledger is every entry: the peer databag's, then those this hook recorded and has not staged yet.
func (r *reconciler) ledger() ([]ledgerEntry, error) {
	var all []ledgerEntry
	for _, k := range ledgerKeys(r.peer) {
		chunk, err := r.ledgerChunkOf(k)
		if err != nil {
			return nil, err
		}
		all = append(all, chunk...)
	}
	r.ledgerMu.Lock()
	defer r.ledgerMu.Unlock()
	return append(all, r.ledgerAdds...), nil
}

// stageLedger stages this hook's recorded serials into the peer databag, appended to the last chunk, and drops the
// entries that have expired, once next-ledger-expiry says some have. A hook with nothing recorded and nothing
// expired parses nothing. Leader only; called before the hook's peer write.
func (r *reconciler) stageLedger() error {
	if !r.leader || r.peerID == "" {
		return nil
	}
	r.ledgerMu.Lock()
	adds := r.ledgerAdds
	r.ledgerAdds = nil
	r.ledgerMu.Unlock()
	now := r.o.Now()
	next, err := strconv.ParseInt(r.peer[peerLedgerExpiry], 10, 64)
	prune := err == nil && now.Unix() > next
	if len(adds) == 0 && !prune {
		return nil
	}
	keys := ledgerKeys(r.peer)
	update := map[string]string{}
	earliest := int64(0)
	note := func(entries []ledgerEntry) {
		for _, e := range entries {
			if earliest == 0 || e.NotAfter < earliest {
				earliest = e.NotAfter
			}
		}
	}
	if prune || r.peer[peerLedgerExpiry] == "" {
		// Every chunk is read: expired entries leave, and the earliest expiry is found again.
		for _, k := range keys {
			chunk, err := r.ledgerChunkOf(k)
			if err != nil {
				return err
			}
			kept := slices.DeleteFunc(slices.Clone(chunk), func(e ledgerEntry) bool { return e.expired(now) })
			if len(kept) != len(chunk) {
				update[k] = jsonOrEmpty(kept)
			}
			note(kept)
		}
	} else {
		earliest = next
	}
	adds = slices.DeleteFunc(adds, func(e ledgerEntry) bool { return e.expired(now) })
	note(adds)
	if len(adds) > 0 {
		// Appended to the last chunk, as pruned above if it was; new chunks past it as it fills.
		var last []ledgerEntry
		n := 0
		if len(keys) > 0 {
			k := keys[len(keys)-1]
			n = ledgerKeyNumber(k)
			if v, ok := update[k]; ok {
				if v != "" {
					if err := json.Unmarshal([]byte(v), &last); err != nil {
						return fmt.Errorf("cannot parse the serial ledger: %w", err)
					}
				}
			} else if last, err = r.ledgerChunkOf(k); err != nil {
				return err
			}
		}
		for len(adds) > 0 {
			room := ledgerChunk - len(last)
			if room <= 0 {
				n, last, room = n+1, nil, ledgerChunk
			}
			take := min(room, len(adds))
			last = append(last, adds[:take]...)
			adds = adds[take:]
			update[peerLedgerPrefix+strconv.Itoa(n)] = mustJSON(last)
		}
	}
	update[peerLedgerExpiry] = ""
	if earliest != 0 {
		update[peerLedgerExpiry] = strconv.FormatInt(earliest, 10)
	}
	return r.setPeer(update)
}

// servingOnce is servingCert, worked out once per hook: the leader works it out before the peer databag is
// written, so that a serving certificate it issues goes into the ledger with that write; the workload sync then
// reuses it.
func (r *reconciler) servingOnce(pub *published) (crt, key string, err error) {
	if r.servingMemo != nil {
		return r.servingMemo.Crt, r.servingMemo.Key, nil
	}
	if crt, key, err = r.servingCert(pub); err != nil {
		return "", "", err
	}
	r.servingMemo = &servingPair{Crt: crt, Key: key}
	return crt, key, nil
}

// errNotInLedger says a serial is not in the ledger.
var errNotInLedger = errors.New("not in the serial ledger")

// findSerial is the ledger entry of serial.
func findSerial(ledger []ledgerEntry, serial string) (ledgerEntry, error) {
	for _, e := range ledger {
		if e.Serial == serial {
			return e, nil
		}
	}
	return ledgerEntry{}, errNotInLedger
}
