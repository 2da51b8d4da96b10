package charm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/ca"
)

// Peer keys of the revocation list.
const (
	peerRevoked       = "revoked"         // JSON []revocation: serials revoked under the current CA
	peerCRL           = "crl"             // PEM CRL signed by the current CA
	peerCRLNumber     = "crl-number"      // grows with every CRL
	peerCRLNextUpdate = "crl-next-update" // RFC 3339
	peerCRLFor        = "crl-for"         // digest of the CA and revoked list the CRL was signed for
)

type revocation struct {
	Serial    string    `json:"serial"` // lower-case hex, no colons
	RevokedAt time.Time `json:"revoked_at"`
}

// normalizeSerial accepts "0A:1B", "0a1b", "0x0a1b" or decimal-looking hex and gives canonical lower-case hex.
func normalizeSerial(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "0x")
	s = strings.ReplaceAll(s, ":", "")
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.Sign() <= 0 {
		return "", fmt.Errorf("%q is not a certificate serial number in hexadecimal", s)
	}
	return n.Text(16), nil
}

func (r *reconciler) revocations() ([]revocation, error) {
	var out []revocation
	if s := r.peer[peerRevoked]; s != "" {
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("cannot parse the revoked serials in the peer databag: %w", err)
		}
	}
	return out, nil
}

// maintainCRL re-signs the CRL when the revoked set or the CA changed, or when half of its validity has passed, so
// relying parties never hold an expired one. Leader only; the key is read only when a CRL is signed.
func (r *reconciler) maintainCRL(pub *published, auth func() (*ca.Authority, error)) error {
	revoked, err := r.revocations()
	if err != nil {
		return err
	}
	h := sha256.New()
	h.Write([]byte(pub.CA))
	h.Write([]byte(r.peer[peerRevoked]))
	digest := hex.EncodeToString(h.Sum(nil)[:8])
	now := r.o.Now()
	validity := 7 * 24 * time.Hour
	if r.cfg != nil && r.cfg.CRLValidity > 0 {
		validity = r.cfg.CRLValidity
	}
	next, _ := time.Parse(time.RFC3339, r.peer[peerCRLNextUpdate])
	if r.peer[peerCRL] != "" && r.peer[peerCRLFor] == digest && now.Before(next.Add(-validity/2)) {
		return nil
	}
	a, err := auth()
	if err != nil {
		return err
	}
	entries := make([]ca.Revoked, 0, len(revoked))
	for _, rv := range revoked {
		n, ok := new(big.Int).SetString(rv.Serial, 16)
		if !ok {
			continue
		}
		entries = append(entries, ca.Revoked{Serial: n, RevokedAt: rv.RevokedAt})
	}
	number, _ := strconv.ParseInt(r.peer[peerCRLNumber], 10, 64)
	number++
	der, err := a.NewCRL(entries, number, validity, now)
	if err != nil {
		return fmt.Errorf("cannot sign the CRL: %w", err)
	}
	return r.setPeer(map[string]string{
		peerCRL:           ca.EncodeCRL(der),
		peerCRLNumber:     strconv.FormatInt(number, 10),
		peerCRLNextUpdate: now.Add(validity).UTC().Format(time.RFC3339),
		peerCRLFor:        digest,
	})
}

// crlFiles are the agent's CRL files from the published PEM.
func crlFiles(crlPEM string, files map[string]string) {
	if crlPEM == "" {
		return
	}
	block, _ := pem.Decode([]byte(crlPEM))
	if block == nil {
		return
	}
	files["crl.pem"] = crlPEM + "\n"
	files["crl.der"] = string(block.Bytes)
}
