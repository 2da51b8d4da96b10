// Package trust installs a set of CA certificates into a container's trust
// store through Pebble: each CA is pushed to
// /usr/local/share/ca-certificates/<prefix><name>.crt, the ones that left the
// set are removed, and update-ca-certificates runs only when something changed
// (it costs about a second per run). It knows nothing about Juju.
package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/pebbleconn"
)

// Defaults for Installer's fields.
var (
	DefaultDir      = "/usr/local/share/ca-certificates"
	DefaultCertsDir = "/etc/ssl/certs"
	// DefaultUpdateTimeout bounds update-ca-certificates (about a second on a few hundred CAs): Pebble must answer
	// the exec's wait within the client's deadline (pebbleconn.Deadline), so no command may run longer than
	// pebbleconn.MaxWait.
	DefaultUpdateTimeout = pebbleconn.MaxWait
)

// UpdateCommand is what Sync runs when the set changed.
var UpdateCommand = []string{"update-ca-certificates"}

// Runner runs a command in the container and returns its combined output.
type Runner func(argv []string, timeout time.Duration) (output string, err error)

// PebbleRunner runs commands through Pebble's exec API.
func PebbleRunner(c *client.Client) Runner {
	return func(argv []string, timeout time.Duration) (string, error) {
		var out bytes.Buffer
		// The exec's wait (timeout + 1 s, Pebble's client) must end before the client's deadline.
		timeout = min(timeout, pebbleconn.MaxWait)
		p, err := c.Exec(&client.ExecOptions{Command: argv, Timeout: timeout, Stdout: &out})
		if err != nil {
			return "", fmt.Errorf("cannot exec %q: %w", argv, pebbleconn.Clarify(err))
		}
		if err := p.Wait(); err != nil {
			return out.String(), fmt.Errorf("cannot run %q: %w: %s", argv, pebbleconn.Clarify(err), strings.TrimSpace(out.String()))
		}
		return out.String(), nil
	}
}

// Installer installs a named set of CA certificates into one container via
// Pebble. It owns exactly the files whose names start with Prefix in Dir;
// everything else there (the image's own CAs, other installers') is left alone.
type Installer struct {
	Client        *client.Client // required
	Prefix        string         // required: file name prefix owned by this installer, e.g. "tls-authority-"
	Dir           string         // default DefaultDir
	CertsDir      string         // default DefaultCertsDir: where update-ca-certificates links <file>.pem
	UpdateTimeout time.Duration  // default DefaultUpdateTimeout
	Runner        Runner         // default PebbleRunner(Client)
}

var (
	prefixRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	invalidRE = regexp.MustCompile(`[^a-z0-9-]+`)
)

// SanitizeName maps a CA name to [a-z0-9-]: lower case, every run of other
// characters becomes one "-", no leading or trailing "-". It returns "" when
// nothing is left.
func SanitizeName(name string) string {
	return strings.Trim(invalidRE.ReplaceAllString(strings.ToLower(name), "-"), "-")
}

// NormalizePEM returns the certificates of a PEM bundle re-encoded, one after
// the other, so that equal sets of certificates give equal files whatever the
// whitespace or comments around them. Anything but parseable CERTIFICATE blocks
// is refused: a trust store file must never carry a key.
func NormalizePEM(data string) ([]byte, error) {
	var out bytes.Buffer
	rest := []byte(data)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("cannot use PEM block %q: only certificates are allowed", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("cannot parse certificate: %w", err)
		}
		pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})
	}
	if out.Len() == 0 {
		return nil, errors.New("cannot find a certificate in PEM data")
	}
	return out.Bytes(), nil
}

func (i *Installer) dir() string {
	if i.Dir != "" {
		return i.Dir
	}
	return DefaultDir
}

func (i *Installer) certsDir() string {
	if i.CertsDir != "" {
		return i.CertsDir
	}
	return DefaultCertsDir
}

func (i *Installer) runner() Runner {
	if i.Runner != nil {
		return i.Runner
	}
	return PebbleRunner(i.Client)
}

// desired maps file name (<Prefix><name>.crt) to its normalized content.
func (i *Installer) desired(cas map[string]string) (map[string][]byte, error) {
	files := make(map[string][]byte, len(cas))
	owner := make(map[string]string, len(cas))
	names := make([]string, 0, len(cas))
	for name := range cas {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic collision messages
	for _, name := range names {
		clean := SanitizeName(name)
		if clean == "" {
			return nil, fmt.Errorf("cannot install CA %q: no usable characters in its name", name)
		}
		file := i.Prefix + clean + ".crt"
		if other, ok := owner[file]; ok {
			return nil, fmt.Errorf("cannot install CAs %q and %q: both map to %s", other, name, file)
		}
		content, err := NormalizePEM(cas[name])
		if err != nil {
			return nil, fmt.Errorf("cannot install CA %q: %w", name, err)
		}
		owner[file] = name
		files[file] = content
	}
	return files, nil
}

// Sync makes Dir hold exactly the given CAs (name -> PEM, one or more
// certificates each) among the files with Prefix: it pushes new or changed ones
// as <Prefix><name>.crt (0644), removes files with Prefix that are not in the
// set, and runs update-ca-certificates only if anything changed, or if a CA's
// link in CertsDir is missing (an earlier run failed, or the store was reset).
// Names are sanitised with SanitizeName. It reports whether it ran
// update-ca-certificates.
func (i *Installer) Sync(cas map[string]string) (changed bool, err error) {
	if i.Client == nil {
		return false, errors.New("cannot sync CAs: no Pebble client")
	}
	if !prefixRE.MatchString(i.Prefix) {
		return false, fmt.Errorf("cannot sync CAs: invalid prefix %q (want [a-z0-9][a-z0-9._-]*)", i.Prefix)
	}
	want, err := i.desired(cas)
	if err != nil {
		return false, err
	}
	have, err := i.list(i.dir())
	if err != nil {
		return false, err
	}
	links, err := i.list(i.certsDir())
	if err != nil {
		return false, err
	}

	update := false
	for name, info := range have {
		if _, ok := want[name]; ok || info.IsDir() {
			continue
		}
		if err := i.remove(path.Join(i.dir(), name)); err != nil {
			return false, err
		}
		update = true
	}
	for _, name := range sortedKeys(want) {
		content := want[name]
		same, err := i.same(have[name], path.Join(i.dir(), name), content)
		if err != nil {
			return false, err
		}
		if !same {
			if err := i.push(path.Join(i.dir(), name), content); err != nil {
				return false, err
			}
			update = true
		}
		if _, ok := links[linkName(name)]; !ok {
			update = true
		}
	}
	// update-ca-certificates leaves the link of a removed local CA dangling;
	// remove ours so that the trust dir holds only what is installed (the
	// bundle it rebuilds is correct either way).
	for name := range links {
		if !strings.HasSuffix(name, ".pem") {
			continue
		}
		if _, ok := want[strings.TrimSuffix(name, ".pem")+".crt"]; ok {
			continue
		}
		if err := i.remove(path.Join(i.certsDir(), name)); err != nil {
			return false, err
		}
		update = true
	}
	if !update {
		return false, nil
	}
	timeout := i.UpdateTimeout
	if timeout == 0 {
		timeout = DefaultUpdateTimeout
	}
	if _, err := i.runner()(UpdateCommand, timeout); err != nil {
		return true, fmt.Errorf("cannot update the trust store: %w", err)
	}
	return true, nil
}

// linkName is the link update-ca-certificates makes in CertsDir for a local
// CA file (our names need none of its escaping).
func linkName(file string) string { return strings.TrimSuffix(file, ".crt") + ".pem" }

// list returns the entries of dir whose names start with Prefix (none when
// dir does not exist yet).
func (i *Installer) list(dir string) (map[string]*client.FileInfo, error) {
	infos, err := i.Client.ListFiles(&client.ListFilesOptions{Path: dir, Pattern: i.Prefix + "*"})
	var cerr *client.Error
	if errors.As(err, &cerr) && cerr.Kind == client.ErrorKindNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", dir, pebbleconn.Clarify(err))
	}
	entries := make(map[string]*client.FileInfo, len(infos))
	for _, info := range infos {
		entries[info.Name()] = info
	}
	return entries, nil
}

// same reports whether the file described by info (nil: missing) already
// holds content. Only a file of the same size is pulled to compare.
func (i *Installer) same(info *client.FileInfo, file string, content []byte) (bool, error) {
	if info == nil || !info.Mode().IsRegular() || info.Size() != int64(len(content)) {
		return false, nil
	}
	var got bytes.Buffer
	if err := i.Client.Pull(&client.PullOptions{Path: file, Target: &got}); err != nil {
		return false, fmt.Errorf("cannot read %s: %w", file, pebbleconn.Clarify(err))
	}
	return bytes.Equal(got.Bytes(), content), nil
}

func (i *Installer) push(file string, content []byte) error {
	err := i.Client.Push(&client.PushOptions{
		Path: file, Source: bytes.NewReader(content), MakeDirs: true, Permissions: 0o644,
	})
	if err != nil {
		return fmt.Errorf("cannot push %s: %w", file, pebbleconn.Clarify(err))
	}
	return nil
}

func (i *Installer) remove(file string) error {
	err := i.Client.RemovePath(&client.RemovePathOptions{Path: file})
	var cerr *client.Error
	if errors.As(err, &cerr) && cerr.Kind == client.ErrorKindNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot remove %s: %w", file, pebbleconn.Clarify(err))
	}
	return nil
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
