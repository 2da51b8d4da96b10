package sim

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// User secrets: the secrets an operator makes with juju add-secret. Juju 3.6 has the model own them
// (apiserver/facades/client/secrets/secrets.go createSecret: the owner is the model tag, with the manage role on the
// model), names them by their label (the NAME of juju add-secret, unique among the model's secrets: "secret with name
// %q already exists"), prints their URI as secret:<id> (core/secrets URI.String with no source model), and shares
// them by a grant whose scope is the model and whose subject is an application (secretsGrantRevoke), so the grant
// lives as long as the model, not as long as a relation. Units read them as consumers (the same secret-get path as
// a charm's secret: the first read pins the latest revision, --refresh moves on, secret-changed on a new revision);
// an application with no grant gets "permission denied" (apiserver/common/secrets CanRead; secretsmanager
// getSecretContent). No unit manages them: secret-info-get, secret-set and secret-grant refuse them, and no owner
// hook (secret-rotate, secret-expired, secret-remove) goes to a unit.

// UserSecretURI is how juju add-secret prints a user secret's URI: secret:<id>.
func userSecretURI(sc *secret) string { return "secret:" + sc.id }

// AddSecret is juju add-secret NAME key=value...: a secret the model owns, labelled name. It returns the URI as
// Juju prints it (secret:<id>). Content keys and sizes follow the hook tool's rules (core/secrets CreateSecretData,
// the same checks for both).
func (m *Model) AddSecret(name string, content map[string]string, description string) (string, error) {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(content) == 0 {
		return "", fmt.Errorf("cannot add secret: empty secret value not valid")
	}
	data, err := checkSecretData(copyMap(content))
	if err != nil {
		return "", fmt.Errorf("cannot add secret: %w", err)
	}
	for _, o := range s.secrets {
		if o.ownerModel == m && o.label == name {
			return "", fmt.Errorf("cannot add secret: secret with name %q already exists", name)
		}
	}
	sc := &secret{model: m, ownerModel: m, label: name, description: description,
		consumers: map[*Unit]*consumerState{}, obsolete: map[int]bool{}}
	sc.id = s.newXID()
	sc.revisions = []*secretRevision{{rev: 1, content: data}}
	s.secrets[sc.id] = sc
	return userSecretURI(sc), nil
}

// userSecretLocked finds a user secret of m by URI or name (secretsGrantRevoke, updateSecret: a URI, else the
// label among the model's secrets; "secret %q not found").
func (m *Model) userSecretLocked(nameOrURI string) (*secret, error) {
	for _, sc := range m.sim.secrets {
		if sc.ownerModel != m {
			continue
		}
		if sc.label == nameOrURI || (looksLikeSecretID(nameOrURI) && sc.id == parseSecretID(nameOrURI)) {
			return sc, nil
		}
	}
	return nil, fmt.Errorf("secret %q not found", nameOrURI)
}

// UpdateSecret is juju update-secret NAME|URI key=value...: a new revision when the content differs from the latest
// (updateSecret compares checksums; the same content makes none), and secret-changed to every consumer behind it.
func (m *Model) UpdateSecret(nameOrURI string, content map[string]string) error {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, err := m.userSecretLocked(nameOrURI)
	if err != nil {
		return fmt.Errorf("cannot update secret: %w", err)
	}
	data, err := checkSecretData(copyMap(content))
	if err != nil {
		return fmt.Errorf("cannot update secret: %w", err)
	}
	if mapsEqual(data, sc.latest().content) {
		return nil
	}
	sc.revisions = append(sc.revisions, &secretRevision{rev: sc.latest().rev + 1, content: data})
	s.secretChangedLocked(sc)
	return nil
}

// GrantSecret is juju grant-secret NAME|URI app[,app...]: each application may read the secret (role view, scope the
// model). A grant to an application that already has it changes nothing.
func (m *Model) GrantSecret(nameOrURI string, apps ...string) error {
	return m.grantRevoke(nameOrURI, apps, false)
}

// RevokeSecret is juju revoke-secret NAME|URI app[,app...]: the applications' units can no longer read it (the next
// secret-get answers "permission denied"). Juju runs no hook for it.
func (m *Model) RevokeSecret(nameOrURI string, apps ...string) error {
	return m.grantRevoke(nameOrURI, apps, true)
}

func (m *Model) grantRevoke(nameOrURI string, apps []string, revoke bool) error {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, err := m.userSecretLocked(nameOrURI)
	if err != nil {
		return err
	}
	var errs []string
	for _, name := range apps {
		a := m.findApp(name)
		if a == nil {
			errs = append(errs, fmt.Sprintf("cannot change access to %q for %q: application %q not found", userSecretURI(sc), name, name))
			continue
		}
		var keep []*secretGrant
		found := false
		for _, g := range sc.grants {
			if g.rel == nil && g.app == a {
				found = true
				if revoke {
					continue
				}
			}
			keep = append(keep, g)
		}
		if !revoke && !found {
			keep = append(keep, &secretGrant{app: a})
		}
		sc.grants = keep
	}
	if len(errs) > 0 {
		// cmd/juju/secrets processGrantRevokeErrors.
		return fmt.Errorf("failed to grant/revoke secret: %s", strings.Join(errs, ", "))
	}
	return nil
}

// RemoveSecret is juju remove-secret NAME|URI: every revision goes; a consumer's next read finds no secret.
func (m *Model) RemoveSecret(nameOrURI string) error {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, err := m.userSecretLocked(nameOrURI)
	if err != nil {
		return err
	}
	delete(s.secrets, sc.id)
	return nil
}

var (
	uuidRE        = regexp.MustCompile(`[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}`)
	secretURIIDRE = regexp.MustCompile(`^([a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}/)?[0-9a-z]{20}$`)
)

// parseSecretURI is core/secrets ParseURI: secret:<id>, secret://<model-uuid>/<id> or a bare id; anything else is
// "secret URI %q not valid" (or its scheme, "secret URI scheme %q not valid").
func parseSecretURI(str string) error {
	u, err := url.Parse(str)
	if err != nil {
		return err
	}
	if u.Scheme != "" && u.Scheme != "secret" {
		return fmt.Errorf("secret URI scheme %q not valid", u.Scheme)
	}
	if u.Host != "" && !uuidRE.MatchString(u.Host) {
		return fmt.Errorf("host controller UUID %q not valid", u.Host)
	}
	id := strings.TrimLeft(u.Path, "/")
	if id == "" {
		id = u.Opaque
	}
	if !secretURIIDRE.MatchString(id) {
		return fmt.Errorf("secret URI %q not valid", str)
	}
	return nil
}
