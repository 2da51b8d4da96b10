package charm

import (
	"fmt"
)

func (r *reconciler) runAction(name string) error {
	switch name {
	case "get-ca-certificate":
		return r.getCACertificate()
	}
	return r.hc.FailAction(fmt.Sprintf("action %q is not supported by this revision", name))
}

// getCACertificate works on every unit: the CA certificate is public and published in the peer databag.
func (r *reconciler) getCACertificate() error {
	if err := r.load(); err != nil {
		return err
	}
	pub, err := r.published()
	if err != nil {
		return err
	}
	if pub.CA == "" {
		return r.hc.FailAction("the CA is not created yet")
	}
	return r.hc.SetActionResults(map[string]string{"ca-certificate": pub.CA})
}
