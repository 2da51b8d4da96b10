package hooktool

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SecretOwner says who owns a secret.
type SecretOwner string

// Secret owners.
const (
	OwnerApplication SecretOwner = "application"
	OwnerUnit        SecretOwner = "unit"
)

// AddSecretOptions are the optional fields of secret-add and secret-set.
type AddSecretOptions struct {
	Label       string
	Owner       SecretOwner // default application (leader only)
	Description string
	Expire      string // RFC3339 time or a duration
	Rotate      string // never|hourly|daily|...
}

// AddSecret creates a secret and returns its URI. The content goes through a 0600 temporary file in the charm's
// own secret directory (see SecretDir), never argv, because a process's arguments are readable by every user of
// the machine.
func (c *Context) AddSecret(content map[string]string, o *AddSecretOptions) (string, error) {
	if o == nil {
		o = &AddSecretOptions{}
	}
	path, cleanup, err := contentFile(c.SecretDir(), content)
	if err != nil {
		return "", err
	}
	defer cleanup()
	args := append([]string{"--file", path}, secretFlags(o)...)
	if o.Owner != "" {
		args = append(args, "--owner", string(o.Owner))
	}
	out, err := c.run("secret-add", nil, args...)
	if err != nil {
		return "", fmt.Errorf("cannot add secret %q: %w", o.Label, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// SetSecret replaces a secret's content (a new revision when it differs) and its metadata.
func (c *Context) SetSecret(id string, content map[string]string, o *AddSecretOptions) error {
	if o == nil {
		o = &AddSecretOptions{}
	}
	args := []string{id}
	if content != nil {
		path, cleanup, err := contentFile(c.SecretDir(), content)
		if err != nil {
			return err
		}
		defer cleanup()
		args = append(args, "--file", path)
	}
	args = append(args, secretFlags(o)...)
	if _, err := c.run("secret-set", nil, args...); err != nil {
		return fmt.Errorf("cannot update secret %s: %w", id, err)
	}
	return nil
}

func secretFlags(o *AddSecretOptions) []string {
	var args []string
	if o.Label != "" {
		args = append(args, "--label", o.Label)
	}
	if o.Description != "" {
		args = append(args, "--description", o.Description)
	}
	if o.Expire != "" {
		args = append(args, "--expire", o.Expire)
	}
	if o.Rotate != "" {
		args = append(args, "--rotate", o.Rotate)
	}
	return args
}

// secretDirName is the directory, in the charm directory, of the files secret-add and secret-set read a secret's
// content from. Juju's secret-add and secret-set (3.6, jujuc secret-add.go) take the content as key=value
// arguments, which every user of the machine can read, or as a file the unit agent reads (--file, read with
// os.ReadFile, so not stdin): a file it is, in a directory of the charm's own.
const secretDirName = ".secret-content"

// SecretDir is where AddSecret and SetSecret write a secret's content for the tool to read (0700, each file 0600
// and removed once the tool has read it): <charm dir>/.secret-content, or the system's temporary directory when
// the hook has no charm directory (tests).
func (c *Context) SecretDir() string {
	if c.Env.CharmDir == "" {
		return ""
	}
	return filepath.Join(c.Env.CharmDir, secretDirName)
}

// removeStaleSecretFiles removes what a hook killed inside secret-add or secret-set left in dir: the file with the
// secret's content, a CA key. Juju runs one hook (or action) of a unit at a time, so at the start of a hook every
// file there is stale. It costs one ReadDir, which fails at once while the directory does not exist.
func removeStaleSecretFiles(dir string) {
	if dir == "" {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

func contentFile(dir string, content map[string]string) (string, func(), error) {
	if len(content) == 0 {
		return "", nil, fmt.Errorf("cannot write an empty secret")
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, fmt.Errorf("cannot create the secret content directory: %w", err)
		}
	}
	f, err := os.CreateTemp(dir, "secret-*.json") // CreateTemp makes the file 0600
	if err != nil {
		return "", nil, fmt.Errorf("cannot create secret content file: %w", err)
	}
	cleanup := func() { os.Remove(f.Name()) }
	// JSON is YAML, and it quotes multi-line PEM safely.
	err = json.NewEncoder(f).Encode(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("cannot write secret content file: %w", err)
	}
	return f.Name(), cleanup, nil
}

// GetSecretOptions selects a secret and the revision to read.
type GetSecretOptions struct {
	ID      string // URI or bare id
	Label   string // owner or consumer label; with ID, sets the consumer label
	Peek    bool   // read the latest revision once, without tracking it
	Refresh bool   // track the latest revision from now on
}

// GetSecret reads a secret's content. A secret that does not exist gives an error wrapping ErrNotFound.
func (c *Context) GetSecret(o GetSecretOptions) (map[string]string, error) {
	var args []string
	if o.ID != "" {
		args = append(args, o.ID)
	}
	if o.Label != "" {
		args = append(args, "--label", o.Label)
	}
	if o.Peek {
		args = append(args, "--peek")
	}
	if o.Refresh {
		args = append(args, "--refresh")
	}
	// The output is the secret's content: a parse error says what failed and how long the output was, never what
	// it held (the error goes to Juju's log).
	out, err := c.run("secret-get", nil, append(args, "--format=json")...)
	if err != nil {
		return nil, fmt.Errorf("cannot read secret %s: %w", secretName(o.ID, o.Label), err)
	}
	content := map[string]string{}
	if err := json.Unmarshal(out, &content); err != nil {
		return nil, fmt.Errorf("cannot read secret %s: cannot parse secret-get output (%d bytes): %s", secretName(o.ID, o.Label), len(out), jsonErrorShape(err))
	}
	return content, nil
}

// jsonErrorShape says what kind of JSON error err is, and where, without the input's text: a SyntaxError's message
// quotes a character of the input and an UnmarshalTypeError's a number of it.
func jsonErrorShape(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		kind, _, _ := strings.Cut(typ.Value, " ") // "number 12345": the kind alone
		return fmt.Sprintf("a JSON %s where %v was expected, at byte %d", kind, typ.Type, typ.Offset)
	}
	return "not a JSON object of strings"
}

func secretName(id, label string) string {
	if id != "" {
		return id
	}
	return strconv.Quote(label)
}

// SecretInfo is secret-info-get's view of a secret this unit manages.
type SecretInfo struct {
	ID       string `json:"-"`
	Revision int    `json:"revision"`
	Label    string `json:"label"`
	Owner    string `json:"owner"`
	Rotation string `json:"rotation"`
	Expiry   string `json:"expiry"`
}

// GetSecretInfo reads metadata of a secret this unit manages, by id or label.
func (c *Context) GetSecretInfo(id, label string) (*SecretInfo, error) {
	args := []string{}
	if id != "" {
		args = append(args, id)
	} else {
		args = append(args, "--label", label)
	}
	var out map[string]SecretInfo
	if err := c.runJSON("secret-info-get", &out, args...); err != nil {
		return nil, fmt.Errorf("cannot read secret info %s: %w", secretName(id, label), err)
	}
	for k, v := range out {
		v.ID = k
		return &v, nil
	}
	return nil, fmt.Errorf("cannot read secret info %s: %w", secretName(id, label), ErrNotFound)
}

// RemoveSecret removes a secret (every revision), or one revision when revision > 0.
func (c *Context) RemoveSecret(id string, revision int) error {
	args := []string{id}
	if revision > 0 {
		args = append(args, "--revision", strconv.Itoa(revision))
	}
	if _, err := c.run("secret-remove", nil, args...); err != nil {
		return fmt.Errorf("cannot remove secret %s: %w", id, err)
	}
	return nil
}

// GrantSecret lets the remote application of relID (or one of its units) read the secret.
func (c *Context) GrantSecret(id, relID, unit string) error {
	args := []string{id, "-r", relID}
	if unit != "" {
		args = append(args, "--unit", unit)
	}
	if _, err := c.run("secret-grant", nil, args...); err != nil {
		return fmt.Errorf("cannot grant secret %s on %s: %w", id, relID, err)
	}
	return nil
}
