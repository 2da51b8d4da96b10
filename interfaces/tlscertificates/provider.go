package tlscertificates

import (
	"fmt"
	"strings"
)

// WriteProviderBag returns the provider's app databag for one relation, byte
// for byte as the Python providers write it: keys in the order ca,
// certificate_signing_request, certificate, chain, then revoked only when
// true; request_errors entries keyed "csr"; capabilities with only its
// non-nil fields. A key is absent from the result when its list is empty (or
// caps is nil); deleting such a key from the databag (relation-set key="")
// is the caller's job, see ProviderKeys. Entries are written as given: check
// them with ProviderCertificate.Validate first.
func WriteProviderBag(certs []ProviderCertificate, errs []RequestError, caps *Capabilities) map[string]string {
	bag := make(map[string]string, 3)
	if len(certs) > 0 {
		bag[KeyCertificates] = writeCertificates(certs)
	}
	if len(errs) > 0 {
		bag[KeyRequestErrors] = writeRequestErrors(errs)
	}
	if caps != nil {
		bag[KeyCapabilities] = WriteCapabilities(*caps)
	}
	return bag
}

func writeCertificates(certs []ProviderCertificate) string {
	var w pyWriter
	w.raw("[")
	for i, c := range certs {
		if i > 0 {
			w.raw(", ")
		}
		w.raw("{")
		w.key("ca", true)
		w.str(c.CA)
		w.key("certificate_signing_request", false)
		w.str(c.CSR)
		w.key("certificate", false)
		w.str(c.Certificate)
		w.key("chain", false)
		w.strs(c.Chain)
		if c.Revoked {
			w.key("revoked", false)
			w.boolean(true)
		}
		w.raw("}")
	}
	w.raw("]")
	return w.String()
}

func writeRequestErrors(errs []RequestError) string {
	var w pyWriter
	w.raw("[")
	for i, e := range errs {
		if i > 0 {
			w.raw(", ")
		}
		w.raw("{")
		w.key("csr", true)
		w.str(e.CSR)
		w.key("error", false)
		w.raw("{")
		w.key("code", true)
		w.raw(fmt.Sprint(e.Error.Code))
		w.key("name", false)
		w.str(e.Error.Name)
		w.key("message", false)
		w.str(e.Error.Message)
		if e.Error.Reason != "" {
			w.key("reason", false)
			w.str(e.Error.Reason)
		}
		w.raw("}}")
	}
	w.raw("]")
	return w.String()
}

// WriteCapabilities returns the capabilities value for caps, with only its
// non-nil fields, as charmlibs writes it. The provider writes it only when it
// changed, so callers compare this string with what is in the databag.
func WriteCapabilities(caps Capabilities) string {
	var w pyWriter
	w.raw("{")
	first := true
	boolField := func(k string, v *bool) {
		if v != nil {
			w.key(k, first)
			w.boolean(*v)
			first = false
		}
	}
	boolField("supports_ip_sans", caps.SupportsIPSANs)
	boolField("supports_wildcard_dns", caps.SupportsWildcardDNS)
	boolField("supports_subdomain", caps.SupportsSubdomain)
	boolField("supports_ca_certificates", caps.SupportsCACertificates)
	if caps.AllowedDomains != nil {
		w.key("allowed_domains", first)
		w.strs(caps.AllowedDomains)
		first = false
	}
	if caps.ProviderType != "" {
		w.key("provider_type", first)
		w.str(caps.ProviderType)
	}
	w.raw("}")
	return w.String()
}

// ReadProviderBag reads a provider's app databag, leniently, for the
// requirer side: a bad entry is skipped and reported in problems, never the
// whole databag (charmlibs drops everything for one request_errors entry
// keyed "certificate_signing_request"; we accept that spelling too). An entry
// must have a CSR and a certificate that are PEM blocks of the right type;
// "ca" and "chain" may be missing, and an empty chain is kept as the Python
// requirers keep it. A value that is not JSON is one problem and yields
// nothing for that key; the other keys are still read.
func ReadProviderBag(bag map[string]string) (certs []ProviderCertificate, errs []RequestError, caps *Capabilities, problems []string) {
	certs = readEntries(bag, KeyCertificates, readProviderCertificate, &problems)
	errs = readEntries(bag, KeyRequestErrors, readRequestError, &problems)
	if v := strings.TrimSpace(bag[KeyCapabilities]); v != "" && v != "null" {
		c, err := readCapabilities([]byte(v))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s unreadable: %v", KeyCapabilities, err))
		} else {
			caps = c
		}
	}
	return certs, errs, caps, problems
}

// readEntries reads the JSON list under key in bag, entry by entry with read: a list that is not JSON is one
// problem and gives nothing; an entry read refuses is skipped, and is one problem.
func readEntries[T any](bag map[string]string, key string, read func([]byte) (T, error), problems *[]string) []T {
	v := strings.TrimSpace(bag[key])
	if v == "" {
		return nil
	}
	list, err := decodeList(v)
	if err != nil {
		*problems = append(*problems, fmt.Sprintf("%s unreadable: %v", key, err))
	}
	var out []T
	for i, raw := range list {
		e, err := read(raw)
		if err != nil {
			*problems = append(*problems, fmt.Sprintf("%s[%d] skipped: %v", key, i, err))
			continue
		}
		out = append(out, e)
	}
	return out
}

func readProviderCertificate(raw []byte) (ProviderCertificate, error) {
	o, err := decodeObject(raw)
	if err != nil {
		return ProviderCertificate{}, err
	}
	var c ProviderCertificate
	if c.CSR, err = o.str("certificate_signing_request"); err != nil {
		return c, err
	}
	if err := checkPEM(c.CSR, "CERTIFICATE REQUEST"); err != nil {
		return c, fmt.Errorf("certificate_signing_request: %w", err)
	}
	if c.Certificate, err = o.str("certificate"); err != nil {
		return c, err
	}
	if err := checkPEM(c.Certificate, "CERTIFICATE"); err != nil {
		return c, fmt.Errorf("certificate: %w", err)
	}
	if c.CA, err = o.optStr("ca"); err != nil {
		return c, err
	}
	if c.CA != "" {
		if err := checkPEM(c.CA, "CERTIFICATE"); err != nil {
			return c, fmt.Errorf("ca: %w", err)
		}
	}
	if c.Chain, err = o.optStrs("chain"); err != nil {
		return c, err
	}
	if c.Chain == nil {
		// A missing chain reads as an empty one: that is what writing the
		// entry back produces.
		c.Chain = []string{}
	}
	for i, p := range c.Chain {
		if err := checkPEM(p, "CERTIFICATE"); err != nil {
			return c, fmt.Errorf("chain[%d]: %w", i, err)
		}
	}
	if c.Revoked, err = o.optBool("revoked"); err != nil {
		return c, err
	}
	return c, nil
}

func readRequestError(raw []byte) (RequestError, error) {
	o, err := decodeObject(raw)
	if err != nil {
		return RequestError{}, err
	}
	var e RequestError
	e.CSR, err = o.str("csr")
	if err != nil {
		// The interface schema's spelling, which no library writes but a
		// provider following the schema might.
		if e.CSR, err = o.str("certificate_signing_request"); err != nil {
			return e, fmt.Errorf("no \"csr\"")
		}
	}
	detail, err := decodeObject(o["error"])
	if err != nil {
		return e, fmt.Errorf("error: %w", err)
	}
	if e.Error.Code, err = detail.integer("code"); err != nil {
		return e, fmt.Errorf("error: %w", err)
	}
	if e.Error.Name, err = detail.optStr("name"); err != nil {
		return e, fmt.Errorf("error: %w", err)
	}
	if e.Error.Message, err = detail.optStr("message"); err != nil {
		return e, fmt.Errorf("error: %w", err)
	}
	if e.Error.Reason, err = detail.optStr("reason"); err != nil {
		return e, fmt.Errorf("error: %w", err)
	}
	return e, nil
}

func readCapabilities(raw []byte) (*Capabilities, error) {
	o, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	var c Capabilities
	for _, f := range []struct {
		key string
		dst **bool
	}{
		{"supports_ip_sans", &c.SupportsIPSANs},
		{"supports_wildcard_dns", &c.SupportsWildcardDNS},
		{"supports_subdomain", &c.SupportsSubdomain},
		{"supports_ca_certificates", &c.SupportsCACertificates},
	} {
		if *f.dst, err = o.optBoolPtr(f.key); err != nil {
			return nil, err
		}
	}
	if c.AllowedDomains, err = o.optStrs("allowed_domains"); err != nil {
		return nil, err
	}
	if c.ProviderType, err = o.optStr("provider_type"); err != nil {
		return nil, err
	}
	return &c, nil
}
