package ca

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Revoked is one CRL entry.
type Revoked struct {
	Serial    *big.Int
	RevokedAt time.Time
}

// NewCRL returns a DER CRL signed by the authority, listing revoked. number
// is the CRL number, which must grow with every CRL the authority publishes;
// the caller keeps it. The CRL is valid from now-1m to now+validity.
func (a *Authority) NewCRL(revoked []Revoked, number int64, validity time.Duration, now time.Time) ([]byte, error) {
	if a == nil || a.Certificate == nil || a.Key == nil {
		return nil, errors.New("cannot create CRL: authority has no certificate or key")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("cannot create CRL: validity %v is not positive", validity)
	}
	if number < 0 {
		return nil, fmt.Errorf("cannot create CRL: negative CRL number %d", number)
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, r := range revoked {
		if r.Serial == nil {
			return nil, errors.New("cannot create CRL: revoked entry without serial")
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.Serial, RevocationTime: r.RevokedAt.UTC()})
	}
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                now.Add(-clockSkew).UTC(),
		NextUpdate:                now.Add(validity).UTC(),
		RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, a.Certificate, a.Key)
	if err != nil {
		return nil, fmt.Errorf("cannot create CRL: %w", err)
	}
	return der, nil
}
