package ca

import (
	"crypto"
	"fmt"
	"strings"

	"go.step.sm/crypto/keyutil"
)

// Algorithm names a CA key type and size, as the ca-key-algorithm option
// spells it.
type Algorithm string

// The algorithms the ca-key-algorithm option accepts.
const (
	RSA2048   Algorithm = "rsa-2048"
	RSA3072   Algorithm = "rsa-3072"
	RSA4096   Algorithm = "rsa-4096"
	ECDSAP256 Algorithm = "ecdsa-p256"
	ECDSAP384 Algorithm = "ecdsa-p384"
	Ed25519   Algorithm = "ed25519"
)

// DefaultAlgorithm is ca-key-algorithm's default: RSA keys are what every
// consumer of the Python charm's CA already handles.
const DefaultAlgorithm = RSA2048

// Algorithms lists every supported algorithm, in the order the config
// documentation gives them.
var Algorithms = []Algorithm{RSA2048, RSA3072, RSA4096, ECDSAP256, ECDSAP384, Ed25519}

// ParseAlgorithm returns the algorithm named s (case-insensitive,
// surrounding spaces ignored).
func ParseAlgorithm(s string) (Algorithm, error) {
	a := Algorithm(strings.ToLower(strings.TrimSpace(s)))
	for _, known := range Algorithms {
		if a == known {
			return a, nil
		}
	}
	return "", fmt.Errorf("cannot parse key algorithm %q: want one of rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384, ed25519", s)
}

// GenerateKey generates a new private key of algorithm a.
func GenerateKey(a Algorithm) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch a {
	case RSA2048:
		key, err = keyutil.GenerateSigner("RSA", "", 2048)
	case RSA3072:
		key, err = keyutil.GenerateSigner("RSA", "", 3072)
	case RSA4096:
		key, err = keyutil.GenerateSigner("RSA", "", 4096)
	case ECDSAP256:
		key, err = keyutil.GenerateSigner("EC", "P-256", 0)
	case ECDSAP384:
		key, err = keyutil.GenerateSigner("EC", "P-384", 0)
	case Ed25519:
		key, err = keyutil.GenerateSigner("OKP", "Ed25519", 0)
	default:
		return nil, fmt.Errorf("cannot generate key: unknown algorithm %q", a)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot generate %s key: %w", a, err)
	}
	return key, nil
}
