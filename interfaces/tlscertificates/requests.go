package tlscertificates

import (
	"fmt"
	"strings"
)

// ReadRequests reads the certificate_signing_requests of one requirer
// databag (unit or app). It is lenient where the Python providers are
// strict, so that one careless requirer entry costs only itself: any spacing
// and key order, unknown keys ignored, "ca" missing or null read as false (a
// pydantic provider drops the whole databag), an entry whose CSR is not one
// PEM "CERTIFICATE REQUEST" block skipped and reported (a Python provider
// raises and stops serving every relation), duplicates of an earlier CSR
// dropped and reported. CSR strings are returned trimmed of surrounding
// whitespace and otherwise as written, to be echoed back.
//
// problems has one line per skipped entry, for the caller to log with the
// relation and unit. err is set only when the whole value is unusable (not a
// JSON array); a missing key, "" (what relation-set leaves for a deleted
// key) and null all mean no requests.
func ReadRequests(bag map[string]string) (reqs []CSRRequest, problems []string, err error) {
	value := strings.TrimSpace(bag[KeyCSRs])
	if value == "" {
		return nil, nil, nil
	}
	list, err := decodeList(value)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read %s: %w", KeyCSRs, err)
	}
	seen := make(map[string]bool, len(list))
	for i, raw := range list {
		req, err := readRequest(raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s[%d] skipped: %v", KeyCSRs, i, err))
			continue
		}
		if seen[req.CSR] {
			problems = append(problems, fmt.Sprintf("%s[%d] skipped: same CSR as an earlier entry", KeyCSRs, i))
			continue
		}
		seen[req.CSR] = true
		reqs = append(reqs, req)
	}
	return reqs, problems, nil
}

func readRequest(raw []byte) (CSRRequest, error) {
	o, err := decodeObject(raw)
	if err != nil {
		return CSRRequest{}, err
	}
	csr, err := o.str("certificate_signing_request")
	if err != nil {
		return CSRRequest{}, err
	}
	csr = strings.TrimSpace(csr)
	if err := checkPEM(csr, "CERTIFICATE REQUEST"); err != nil {
		return CSRRequest{}, fmt.Errorf("certificate_signing_request: %w", err)
	}
	isCA, err := o.optBool("ca")
	if err != nil {
		return CSRRequest{}, err
	}
	return CSRRequest{CSR: csr, CA: isCA}, nil
}

// WriteRequests returns the certificate_signing_requests value a Python
// requirer writes for reqs, byte for byte. "ca" is always written: pydantic
// providers reject an entry without it. An empty list gives "": the key is
// then deleted, as the Python requirer does.
func WriteRequests(reqs []CSRRequest) string {
	if len(reqs) == 0 {
		return ""
	}
	var w pyWriter
	w.raw("[")
	for i, r := range reqs {
		if i > 0 {
			w.raw(", ")
		}
		w.raw("{")
		w.key("certificate_signing_request", true)
		w.str(r.CSR)
		w.key("ca", false)
		w.boolean(r.CA)
		w.raw("}")
	}
	w.raw("]")
	return w.String()
}
