package tlscertificates

import (
	"encoding/base64"
	"testing"

	"github.com/tls-authority/tls-authority/ca"
)

// TestKeySecretFitsJujuLimits: the requirer's key secret with its largest key fits Juju 3.6's secret limits before
// the raise to 1 MB (juju/juju#20287; core/secrets/createsecret.go): 8 KiB a value, measured as given or
// base64-encoded.
func TestKeySecretFitsJujuLimits(t *testing.T) {
	for _, alg := range ca.Algorithms {
		key, err := ca.GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		pemKey, err := ca.EncodePrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if n := base64.StdEncoding.EncodedLen(len(pemKey)); n > 8*1024 {
			t.Errorf("%s: the %q value is %d bytes base64-encoded, over Juju's 8192", alg, secretKeyField, n)
		}
	}
}
