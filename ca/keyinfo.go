package ca

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"unicode"
)

// Object identifiers of the key types and curves a refusal names. Go's x509
// parses RSA, DSA, ECDSA on the NIST curves and Ed25519; the others are read
// here from the DER so that the requirer learns which key it sent.
var (
	oidRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAPSS     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidDSA        = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidEC         = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidX25519     = asn1.ObjectIdentifier{1, 3, 101, 110}
	oidX448       = asn1.ObjectIdentifier{1, 3, 101, 111}
	oidEd25519    = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448      = asn1.ObjectIdentifier{1, 3, 101, 113}
	oidExtReq     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidSAN        = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}
)

// curveNames names the elliptic curves a requirer is likely to send, by OID.
var curveNames = map[string]string{
	"1.3.132.0.10":          "secp256k1",
	"1.2.840.10045.3.1.1":   "P-192",
	"1.3.132.0.33":          "P-224",
	"1.2.840.10045.3.1.7":   "P-256",
	"1.3.132.0.34":          "P-384",
	"1.3.132.0.35":          "P-521",
	"1.3.36.3.3.2.8.1.1.7":  "brainpoolP256r1",
	"1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
	"1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1",
	"1.2.156.10197.1.301":   "SM2",
}

type spkiASN1 struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// describeKey names the key in a DER SubjectPublicKeyInfo by type and size
// ("DSA key of 2048 bits"), for a refusal message. It reads only what it
// names; the key is not validated.
func describeKey(spki []byte) string {
	var k spkiASN1
	if rest, err := asn1.Unmarshal(spki, &k); err != nil || len(rest) != 0 {
		return "unreadable public key"
	}
	alg := k.Algorithm.Algorithm
	switch {
	case alg.Equal(oidRSA), alg.Equal(oidRSAPSS):
		name := "RSA"
		if alg.Equal(oidRSAPSS) {
			name = "RSA-PSS"
		}
		var pub struct{ N, E *big.Int }
		if _, err := asn1.Unmarshal(k.PublicKey.RightAlign(), &pub); err != nil || pub.N == nil {
			return name + " key"
		}
		return fmt.Sprintf("%s key of %d bits", name, pub.N.BitLen())
	case alg.Equal(oidDSA):
		var params struct{ P, Q, G *big.Int }
		if _, err := asn1.Unmarshal(k.Algorithm.Parameters.FullBytes, &params); err != nil || params.P == nil {
			return "DSA key"
		}
		return fmt.Sprintf("DSA key of %d bits", params.P.BitLen())
	case alg.Equal(oidEC):
		var curve asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(k.Algorithm.Parameters.FullBytes, &curve); err != nil {
			return "ECDSA key with explicit curve parameters"
		}
		name, ok := curveNames[curve.String()]
		if !ok {
			name = "OID " + curve.String()
		}
		// An uncompressed point is 0x04 || X || Y; a compressed one 0x02/0x03 || X.
		p := k.PublicKey.RightAlign()
		bits := 0
		switch {
		case len(p) > 1 && p[0] == 4:
			bits = (len(p) - 1) / 2 * 8
		case len(p) > 1 && (p[0] == 2 || p[0] == 3):
			bits = (len(p) - 1) * 8
		}
		if bits == 0 {
			return fmt.Sprintf("ECDSA key on curve %s", name)
		}
		return fmt.Sprintf("ECDSA key on curve %s (%d bits)", name, bits)
	case alg.Equal(oidEd25519):
		return "Ed25519 key (256 bits)"
	case alg.Equal(oidEd448):
		return "Ed448 key (448 bits)"
	case alg.Equal(oidX25519):
		return "X25519 key (256 bits, not a signing key)"
	case alg.Equal(oidX448):
		return "X448 key (448 bits, not a signing key)"
	}
	return fmt.Sprintf("key of algorithm OID %s (%d bits)", alg, k.PublicKey.BitLength)
}

// rawCSR is a PKCS #10 request read without interpreting the key, for the
// requests Go's x509 cannot parse (keys on curves it does not know, names it
// rejects): enough to say why they are refused.
type rawCSR struct {
	Info      rawCSRInfo
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

type rawCSRInfo struct {
	Version    int
	Subject    asn1.RawValue
	SPKI       asn1.RawValue
	Attributes []rawAttribute `asn1:"tag:0,set"`
}

type rawAttribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// readRawCSR reads der as a CSR structure, for refusing what x509 cannot
// parse. It returns the SubjectPublicKeyInfo, the subject and the requested
// extensions.
func readRawCSR(der []byte) (spki []byte, subject []pkix.AttributeTypeAndValue, exts []pkix.Extension, err error) {
	var c rawCSR
	if rest, err := asn1.Unmarshal(der, &c); err != nil {
		return nil, nil, nil, err
	} else if len(rest) != 0 {
		return nil, nil, nil, fmt.Errorf("trailing data")
	}
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(c.Info.Subject.FullBytes, &rdns); err == nil && len(rest) == 0 {
		for _, rdn := range rdns {
			subject = append(subject, rdn...)
		} // else names are judged from the extensions only
	}
	for _, a := range c.Info.Attributes {
		if !a.Type.Equal(oidExtReq) || len(a.Values) == 0 {
			continue
		}
		var e []pkix.Extension
		if _, err := asn1.Unmarshal(a.Values[0].FullBytes, &e); err == nil {
			exts = append(exts, e...)
		}
	}
	return c.Info.SPKI.FullBytes, subject, exts, nil
}

// nameWithControl returns a description of the first subject attribute or
// subject alternative name holding a control character (NUL, newline, DEL,
// C1...), or "". Names are read from the DER, not from what x509 made of
// them, so a name x509 would reject or re-encode is judged as sent
// (x509 keeps the parsed subject's attributes in Subject.Names and the
// requested extensions in Extensions, both as they were encoded).
func nameWithControl(subject []pkix.AttributeTypeAndValue, exts []pkix.Extension) string {
	for _, atv := range subject {
		s, ok := atv.Value.(string)
		if !ok || !hasControl(s) {
			continue
		}
		field := "subject attribute " + atv.Type.String()
		if atv.Type.Equal(oidCommonName) {
			field = "common name"
		}
		return fmt.Sprintf("%s %s", field, quoteShort(s))
	}
	for _, e := range exts {
		if !e.Id.Equal(oidSAN) {
			continue
		}
		var names []asn1.RawValue
		if _, err := asn1.Unmarshal(e.Value, &names); err != nil {
			continue
		}
		for _, n := range names {
			if n.Class != asn1.ClassContextSpecific {
				continue
			}
			kind := map[int]string{1: "email SAN", 2: "DNS SAN", 6: "URI SAN"}[n.Tag]
			if kind != "" && hasControl(string(n.Bytes)) {
				return fmt.Sprintf("%s %s", kind, quoteShort(string(n.Bytes)))
			}
		}
	}
	return ""
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// quoteShort quotes s with its control characters escaped, cut to a length
// that keeps a log line and a request_errors message short.
func quoteShort(s string) string {
	const max = 100
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
