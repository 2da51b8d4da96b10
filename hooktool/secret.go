package hooktool

import (
	"encoding/json"
	"fmt"
	"os"
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

// AddSecret creates a secret and returns its URI. The content goes through a 0600 temporary file, never argv,
// because a process's arguments are readable by every user of the machine.
func (c *Context) AddSecret(content map[string]string, o *AddSecretOptions) (string, error) {
	if o == nil {
		o = &AddSecretOptions{}
	}
	path, cleanup, err := contentFile(content)
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
		path, cleanup, err := contentFile(content)
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

func contentFile(content map[string]string) (string, func(), error) {
	if len(content) == 0 {
		return "", nil, fmt.Errorf("cannot write an empty secret")
	}
	f, err := os.CreateTemp("", "secret-*.yaml") // CreateTemp makes the file 0600
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
	content := map[string]string{}
	if err := c.runJSON("secret-get", &content, args...); err != nil {
		return nil, fmt.Errorf("cannot read secret %s: %w", secretName(o.ID, o.Label), err)
	}
	return content, nil
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
