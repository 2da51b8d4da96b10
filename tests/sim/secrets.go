package sim

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// secret is one Juju secret: owner, labels, revisions, grants and consumer tracking.
type secret struct {
	id        string
	model     *Model
	ownerApp  *App
	ownerUnit *Unit
	// ownerModel is set for a user secret (juju add-secret): the model owns it and no unit manages it
	// (usersecrets.go).
	ownerModel  *Model
	label       string
	description string
	rotate      string
	revisions   []*secretRevision
	grants      []*secretGrant
	consumers   map[*Unit]*consumerState
	// peerReaders are non-leader units of the owning app that read the secret (always the
	// latest) and so get secret-changed on a new revision.
	peerReaders map[*Unit]int
	obsolete    map[int]bool // revisions secret-remove was queued for
}

type secretRevision struct {
	rev     int
	content map[string]string
	// expire is the revision's expiry (zero: none). Juju keeps it per revision (state/secrets.go,
	// secretRevisionDoc.ExpireTime, rounded to the second): a secret-set --expire sets the revision it creates, or
	// the latest one when it creates none; a new revision without --expire has none; an older revision keeps its own.
	expire time.Time
	// expireNext is the owner's expiry worker's next trigger for this revision (worker/secretexpire,
	// secretRevisionExpiryInfo.expireTime): the expiry, then ExpireRetryDelay later after each firing, and back to
	// the expiry whenever the revision's record changes (secretsExpiryWatcher.merge sends it again).
	expireNext time.Time
}

// setExpire records a revision's expiry as Juju's state does (state/secrets.go secretRevisionDoc: Round(time.Second)
// in UTC) and restarts the expiry worker's schedule for it.
func (r *secretRevision) setExpire(t time.Time) {
	if !t.IsZero() {
		t = t.Round(time.Second).UTC()
	}
	r.expire, r.expireNext = t, t
}

// secretExpireRetryDelay is Juju's core/secrets ExpireRetryDelay: how long the expiry worker waits before running
// secret-expired again for a revision the charm did not remove.
const secretExpireRetryDelay = 5 * time.Minute

type secretGrant struct {
	rel  *Relation
	app  *App
	unit *Unit // nil: the whole application
}

type consumerState struct {
	label string
	rev   int
}

var xidEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// newXID returns a 20-character xid as Juju uses for secret ids: 4 bytes of time, 5 random,
// 3 of counter, in lowercase base32hex.
func (s *Sim) newXID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(s.now().Unix()))
	rand.Read(b[4:9])
	s.secSeq++
	b[9], b[10], b[11] = byte(s.secSeq>>16), byte(s.secSeq>>8), byte(s.secSeq)
	return xidEncoding.EncodeToString(b[:])
}

func (sc *secret) uri() string { return "secret://" + sc.model.uuid + "/" + sc.id }

func (sc *secret) latest() *secretRevision { return sc.revisions[len(sc.revisions)-1] }

func (sc *secret) revision(n int) *secretRevision {
	for _, r := range sc.revisions {
		if r.rev == n {
			return r
		}
	}
	return nil
}

// ownedBy reports whether u may read the secret as its owner: the owner unit, or any unit of
// the owning application.
func (sc *secret) ownedBy(u *Unit) bool {
	return sc.ownerUnit == u || (sc.ownerApp != nil && sc.ownerApp == u.app)
}

// managedBy reports whether u manages the secret: unit-owned by u, or app-owned and u leads.
func (sc *secret) managedBy(u *Unit) bool {
	return sc.ownerUnit == u || (sc.ownerApp != nil && sc.ownerApp == u.app && u.app.leader == u)
}

func (sc *secret) granted(u *Unit) bool {
	for _, g := range sc.grants {
		// A user secret's grant has the model as its scope (rel nil): it lives as long as the grant.
		if g.app == u.app && (g.unit == nil || g.unit == u) && (g.rel == nil || !g.rel.removed) {
			return true
		}
	}
	return false
}

// parseSecretID accepts secret://<model>/<id>, secret:<id> or a bare id.
func parseSecretID(s string) string {
	s = strings.TrimPrefix(s, "secret://")
	s = strings.TrimPrefix(s, "secret:")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

var xidRE = regexp.MustCompile(`^[0-9a-v]{20}$`)

func looksLikeSecretID(s string) bool {
	return strings.HasPrefix(s, "secret:") || xidRE.MatchString(s)
}

var secretKeyRE = regexp.MustCompile(`^[a-z](-?[a-z0-9]){2,}$`)

// Juju 3.6's limits on secret content before the raise to 1 MB (juju/juju#20287): core/secrets/createsecret.go,
// maxValueSizeBytes and maxContentSizeBytes. encodeBase64 measures each value as the hook tool got it (the text of
// key=value, a key#file file or a --file entry; the base64 text of key#base64), and the sum of one source's values.
const (
	maxSecretValueBytes   = 8 * 1024
	maxSecretContentBytes = 64 * 1024
)

// secretContent is Juju's secretUpsertCommand.Init content parsing (worker/uniter/runner/jujuc/secret-add.go) with
// core/secrets CreateSecretData (key=value, key#base64=value, key#file=path) and ReadSecretData (--file, JSON or
// YAML). Each source is checked on its own, as Juju checks the arguments and the file separately; every refusal
// is an Init error (exit 2).
func secretContent(req *toolRequest, f *flagSet, args []string) (map[string]string, error) {
	fromArgs := map[string]string{}
	for _, a := range args {
		// Juju strips base64 padding before looking for the "=", so "key=" and "=v" are refused.
		i := strings.Index(strings.TrimRight(a, "="), "=")
		if i < 1 {
			return nil, usagef(`key value %q not valid`, a)
		}
		k, v := a[:i], a[i+1:]
		if name, ok := strings.CutSuffix(k, "#file"); ok {
			b, ok := req.Files[v]
			if !ok {
				return nil, usagef("reading content for secret key %q: open %s: no such file or directory", name, v)
			}
			if len(b) > maxSecretValueBytes {
				return nil, usagef("secret content in file %q too large: %d bytes", v, len(b))
			}
			k, v = name, string(b)
		}
		fromArgs[k] = v
	}
	out, err := checkSecretData(fromArgs)
	if err != nil || !f.set["file"] {
		return out, err
	}
	p := f.vals["file"]
	b := req.Stdin
	if p != "-" {
		b = req.Files[p]
	}
	if len(b) > maxSecretContentBytes {
		return nil, usagef("secret content in file %q too large: %d bytes", p, len(b))
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, usagef("cannot parse secret content file: %v", err)
	}
	fromFile := map[string]string{}
	for k, v := range m {
		fromFile[k] = fmt.Sprint(v)
	}
	more, err := checkSecretData(fromFile)
	if err != nil {
		return nil, err
	}
	maps.Copy(out, more)
	return out, nil
}

// checkSecretData is core/secrets encodeBase64: sizes, then key names; a key#base64 value is decoded here because
// the simulator keeps content decoded.
func checkSecretData(in map[string]string) (map[string]string, error) {
	out := map[string]string{}
	total := 0
	for _, k := range sortedKeys(in) {
		v := in[k]
		if len(v) > maxSecretValueBytes {
			return nil, usagef("secret content for key %q too large: %d bytes", k, len(v))
		}
		total += len(v)
		key, b64 := strings.CutSuffix(k, "#base64")
		if !secretKeyRE.MatchString(key) {
			return nil, usagef("key %q not valid", key)
		}
		if b64 {
			d, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, usagef("invalid base64 value for key %q", key)
			}
			v = string(d)
		}
		out[key] = v
	}
	if total > maxSecretContentBytes {
		return nil, usagef("secret content too large: %d bytes", total)
	}
	return out, nil
}

var rotatePolicies = map[string]bool{"never": true, "hourly": true, "daily": true, "weekly": true, "monthly": true, "quarterly": true, "yearly": true}

// parseExpire is Juju's secretUpsertCommand.Init (worker/uniter/runner/jujuc/secret-add.go): an RFC 3339 time, the
// same without a zone (read as UTC, the form ops sends), or a positive duration from now (the controller clock). The
// time is kept in UTC.
func parseExpire(v string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05", v)
	}
	if err != nil {
		d, err := time.ParseDuration(v)
		if err != nil {
			return time.Time{}, usagef("expire time or duration %q not valid", v)
		}
		if d <= 0 {
			return time.Time{}, usagef("negative expire duration %q not valid", v)
		}
		t = now.Add(d)
	}
	return t.UTC(), nil
}

// secretUpdate is a hook's coalesced secret-set for one secret (later fields win).
type secretUpdate struct {
	sec         *secret
	content     map[string]string
	label       *string
	description *string
	rotate      *string
	expire      *time.Time
}

type secretGrantOp struct {
	sec    *secret
	rel    *Relation
	unit   *Unit
	app    *App
	revoke bool
}

type secretRemoveOp struct {
	sec *secret
	rev int
}

// pendingSecrets is a hook's buffered secret changes.
type pendingSecrets struct {
	adds    []*secret
	updates map[*secret]*secretUpdate
	grants  []secretGrantOp
	removes []secretRemoveOp
	// trackLatest: secrets whose pending update this hook read with --refresh (context.go GetSecret records
	// TrackLatest for the commit).
	trackLatest map[*secret]*secretUpdate
}

func (c *hookContext) findSecret(s *Sim, id string) *secret {
	if sc := s.secrets[id]; sc != nil {
		return sc
	}
	for _, sc := range c.sec.adds {
		if sc.id == id {
			return sc
		}
	}
	return nil
}

func (s *Sim) toolSecretAdd(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"owner", "label", "description", "expire", "rotate", "file"}, nil)
	if err != nil {
		return "", err
	}
	u := c.unit
	if len(f.pos) == 0 && !f.set["file"] {
		return "", usagef("missing secret value or filename")
	}
	content, err := secretContent(req, f, f.pos)
	if err != nil {
		return "", err
	}
	// secretAddCommand.Run refuses an empty value (a --file with no keys).
	if len(content) == 0 {
		return "", failf("empty secret value not valid")
	}
	sc := &secret{model: u.app.model, consumers: map[*Unit]*consumerState{}, obsolete: map[int]bool{}}
	switch owner := f.str("owner"); owner {
	case "", "application":
		if u.app.leader != u {
			return "", failf("this unit is not the leader")
		}
		sc.ownerApp = u.app
	case "unit":
		sc.ownerUnit = u
	default:
		return "", usagef("secret owner %q not valid", owner)
	}
	if f.has("label") {
		sc.label = f.vals["label"]
		if s.ownerLabelTaken(c, sc, sc.label) {
			return "", failf("secret with label %q already exists", sc.label)
		}
	}
	sc.description = f.str("description")
	if r := f.str("rotate"); r != "" {
		if !rotatePolicies[r] {
			return "", usagef("rotate policy %q not valid", r)
		}
		sc.rotate = r
	}
	var expire time.Time
	if e := f.str("expire"); e != "" {
		if expire, err = parseExpire(e, s.now()); err != nil {
			return "", err
		}
	}
	sc.id = s.newXID()
	sc.revisions = []*secretRevision{{rev: 1, content: content, expire: expire}}
	c.sec.adds = append(c.sec.adds, sc)
	return sc.uri() + "\n", nil
}

// ownerLabelTaken checks owner-label uniqueness among the owner's secrets, pending ones included.
func (s *Sim) ownerLabelTaken(c *hookContext, self *secret, label string) bool {
	check := func(o *secret) bool {
		return o != self && o.label == label && ((self.ownerApp != nil && o.ownerApp == self.ownerApp) || (self.ownerUnit != nil && o.ownerUnit == self.ownerUnit))
	}
	for _, o := range s.secrets {
		if check(o) {
			return true
		}
	}
	for _, o := range c.sec.adds {
		if check(o) {
			return true
		}
	}
	for o, up := range c.sec.updates {
		if o != self && up.label != nil && *up.label == label && o.ownerApp == self.ownerApp && o.ownerUnit == self.ownerUnit {
			return true
		}
	}
	return false
}

func (s *Sim) toolSecretGet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"label", "format"}, []string{"peek", "refresh"})
	if err != nil {
		return "", err
	}
	if f.has("peek") && f.has("refresh") {
		return "", usagef("specify one of --peek or --refresh but not both")
	}
	u := c.unit
	uri, key := "", ""
	label := f.str("label")
	peek, refresh := f.has("peek"), f.has("refresh")
	pos := f.pos
	// With --label, a lone argument that is not a secret id is the key.
	if len(pos) > 0 && (label == "" || looksLikeSecretID(pos[0])) {
		uri, pos = pos[0], pos[1:]
	}
	if len(pos) > 0 {
		key = pos[0]
	}
	if uri == "" && label == "" {
		return "", usagef("require either a secret URI or label")
	}
	out := func(content map[string]string) (string, error) {
		if key != "" {
			k, enc, _ := strings.Cut(key, "#")
			v, ok := content[k]
			if !ok {
				return "", failf("secret key %q not found", k)
			}
			if enc == "base64" {
				v = base64.StdEncoding.EncodeToString([]byte(v))
			}
			return format(f, v, "yaml")
		}
		return format(f, content, "yaml")
	}
	// This hook's own writes first, as Juju's HookContext.GetSecret does (worker/uniter/runner/context/context.go,
	// getPendingSecretValue): by URI, then by label.
	if uri != "" {
		if content, ok := c.pendingSecretValue(parseSecretID(uri), label, refresh, peek); ok {
			return out(content)
		}
	}
	if label != "" {
		if content, ok := c.pendingSecretValue("", label, refresh, peek); ok {
			return out(content)
		}
	}
	// Otherwise the read goes to the controller, which knows only committed revisions.
	var sc *secret
	if uri != "" {
		id := parseSecretID(uri)
		if sc = s.secrets[id]; sc == nil {
			return "", failf("secret %q not found", id)
		}
	} else {
		// lookupOwnedSecretURIByLabel: owner labels, a label a pending secret-set gives included.
		for _, o := range s.allSecrets(c) {
			if o.ownedBy(u) && o.label == label && s.secrets[o.id] == o {
				sc = o
			}
		}
		for o, up := range c.sec.updates {
			if sc == nil && up.label != nil && *up.label == label && s.secrets[o.id] == o {
				sc = o
			}
		}
		if sc == nil {
			for _, o := range s.allSecrets(c) {
				if cs := o.consumers[u]; cs != nil && cs.label == label {
					sc = o
				}
			}
		}
		if sc == nil {
			return "", failf("consumer label %q not found", label)
		}
	}
	// Owners and consumers read alike (juju/juju#16598, in 3.1.7, 3.3.1 and every 3.4+: getSecretContent resolves
	// an owner label to the URI, then asks getConsumedRevision for every caller): the unit's consumer record says
	// which revision it reads; the first read creates it at the latest revision; --refresh moves it to the latest,
	// --peek reads the latest once. The owner keeps no consumer label (its label is the secret's).
	owner := sc.ownedBy(u)
	if owner {
		if uri != "" && label != "" && sc.managedBy(u) {
			sc.label = label
		}
		if sc.ownerApp != nil && u.app.leader != u {
			if sc.peerReaders == nil {
				sc.peerReaders = map[*Unit]int{}
			}
			sc.peerReaders[u] = sc.latest().rev
		}
	} else if !sc.granted(u) {
		return "", failf("permission denied")
	}
	cs := sc.consumers[u]
	if cs == nil {
		// Consumer tracking is server-side and immediate, kept even if the hook fails.
		cs = &consumerState{rev: sc.latest().rev}
		sc.consumers[u] = cs
	}
	if !owner && uri != "" && label != "" {
		cs.label = label
	}
	if s.opts.OwnersReadLatest && owner {
		// Juju before 3.1.7 (and 3.2, 3.3.0): an owner always reads the latest revision.
		refresh = true
	}
	rev := cs.rev
	switch {
	case refresh:
		cs.rev = sc.latest().rev
		rev = cs.rev
		s.checkObsoleteLocked(sc)
	case peek:
		rev = sc.latest().rev
	}
	if _, ok := sc.peerReaders[u]; ok && owner {
		sc.peerReaders[u] = rev
	}
	content := sc.revision(rev).content
	return out(content)
}

// pendingSecretValue is Juju's getPendingSecretValue (worker/uniter/runner/context/context.go). A secret created in
// this hook is read from the pending create, by its id or its label, and a label given with its id becomes its
// label. A pending secret-set is seen only with --peek or --refresh, by id or by the label that secret-set itself
// passed; a secret-set with no content shows nothing. Otherwise the read goes to the controller.
func (c *hookContext) pendingSecretValue(id, label string, refresh, peek bool) (map[string]string, bool) {
	for _, sc := range c.sec.adds {
		if id != "" && sc.id == id {
			if label != "" {
				sc.label = label
			}
			return sc.revisions[0].content, true
		}
		if label != "" && sc.label == label {
			return sc.revisions[0].content, true
		}
	}
	if !refresh && !peek {
		return nil, false
	}
	for _, sc := range sortedUpdates(c.sec.updates) {
		up := c.sec.updates[sc]
		if id != "" && sc.id == id || label != "" && up.label != nil && *up.label == label {
			if id != "" && sc.id == id && label != "" {
				l := label
				up.label = &l
			}
			if refresh && up.content != nil {
				c.sec.trackLatest[sc] = up
			}
			return up.content, up.content != nil
		}
	}
	return nil, false
}

func (s *Sim) allSecrets(c *hookContext) []*secret {
	var out []*secret
	for _, id := range sortedKeys(s.secrets) {
		out = append(out, s.secrets[id])
	}
	return append(out, c.sec.adds...)
}

// managed resolves a secret the unit manages (for set/remove/grant/info), by uri or owner label.
func (s *Sim) managed(c *hookContext, uri, label string) (*secret, error) {
	u := c.unit
	var sc *secret
	name := uri
	if uri != "" {
		name = parseSecretID(uri)
		sc = c.findSecret(s, name)
	} else {
		name = label
		for _, o := range s.allSecrets(c) {
			if o.ownedBy(u) && o.label == label {
				sc = o
			}
		}
	}
	if sc == nil || !sc.ownedBy(u) {
		return nil, failf("secret %q not found", name)
	}
	if !sc.managedBy(u) {
		return nil, failf("this unit is not the leader")
	}
	return sc, nil
}

func (s *Sim) toolSecretSet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"owner", "label", "description", "expire", "rotate", "file"}, nil)
	if err != nil {
		return "", err
	}
	if len(f.pos) < 1 {
		return "", usagef("missing secret URI")
	}
	sc, err := s.managed(c, f.pos[0], "")
	if err != nil {
		return "", err
	}
	content, err := secretContent(req, f, f.pos[1:])
	if err != nil {
		return "", err
	}
	var label, description, rotate *string
	var expire *time.Time
	if f.has("label") {
		l := f.vals["label"]
		if s.ownerLabelTaken(c, sc, l) {
			return "", failf("secret with label %q already exists", l)
		}
		label = &l
	}
	if f.has("description") {
		d := f.vals["description"]
		description = &d
	}
	if f.has("rotate") {
		r := f.vals["rotate"]
		if !rotatePolicies[r] {
			return "", usagef("rotate policy %q not valid", r)
		}
		rotate = &r
	}
	if f.has("expire") {
		t, err := parseExpire(f.vals["expire"], s.now())
		if err != nil {
			return "", err
		}
		expire = &t
	}
	// Juju's secretsChangeRecorder.update (worker/uniter/runner/context/secrets.go): a secret-set cancels this
	// hook's secret-remove of the secret, and a secret-set on a secret created in this hook changes the pending
	// create (one revision) instead of queueing an update.
	c.sec.removes = slices.DeleteFunc(c.sec.removes, func(op secretRemoveOp) bool { return op.sec == sc })
	if slices.Contains(c.sec.adds, sc) {
		if len(content) > 0 {
			sc.revisions[0].content = content
		}
		if label != nil {
			sc.label = *label
		}
		if description != nil {
			sc.description = *description
		}
		if rotate != nil {
			sc.rotate = *rotate
		}
		if expire != nil {
			sc.revisions[0].expire = *expire
		}
		return "", nil
	}
	up := c.sec.updates[sc]
	if up == nil {
		up = &secretUpdate{sec: sc}
		c.sec.updates[sc] = up
	}
	if len(content) > 0 {
		up.content = content
	}
	if label != nil {
		up.label = label
	}
	if description != nil {
		up.description = description
	}
	if rotate != nil {
		up.rotate = rotate
	}
	if expire != nil {
		up.expire = expire
	}
	return "", nil
}

func (s *Sim) toolSecretRemove(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"revision"}, nil)
	if err != nil {
		return "", err
	}
	if len(f.pos) != 1 {
		return "", usagef("missing secret URI")
	}
	sc, err := s.managed(c, f.pos[0], "")
	if err != nil {
		return "", err
	}
	rev := 0
	if f.has("revision") {
		if _, err := fmt.Sscan(f.vals["revision"], &rev); err != nil || sc.revision(rev) == nil {
			return "", failf("secret revision %q not found", f.vals["revision"])
		}
	}
	// Juju's secretsChangeRecorder.remove: a secret-remove drops this hook's pending create, update and grants
	// of the secret.
	delete(c.sec.updates, sc)
	c.sec.grants = slices.DeleteFunc(c.sec.grants, func(op secretGrantOp) bool { return op.sec == sc })
	if i := slices.Index(c.sec.adds, sc); i >= 0 {
		c.sec.adds = slices.Delete(c.sec.adds, i, i+1)
		return "", nil
	}
	c.sec.removes = append(c.sec.removes, secretRemoveOp{sec: sc, rev: rev})
	return "", nil
}

func (s *Sim) toolSecretGrant(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"r", "relation", "unit", "app"}, nil)
	if err != nil {
		return "", err
	}
	if len(f.pos) != 1 {
		return "", usagef("missing secret URI")
	}
	sc, err := s.managed(c, f.pos[0], "")
	if err != nil {
		return "", err
	}
	op := secretGrantOp{sec: sc, revoke: req.Tool == "secret-revoke"}
	u := c.unit
	if f.has("r", "relation") {
		r, err := s.relation(c, f)
		if err != nil {
			return "", err
		}
		op.rel = r
		op.app = r.other(u.app).app
	} else if !op.revoke {
		return "", usagef("missing relation")
	}
	if an := f.str("app"); an != "" {
		if op.rel == nil {
			for _, r := range s.visibleRelations(c, false) {
				if a := r.lookupApp(u.app, an); a != nil && a != u.app {
					op.app = a
				}
			}
		} else if a := op.rel.lookupApp(u.app, an); a != nil {
			op.app = a
		}
		if op.app == nil {
			return "", failf("application %q not found", an)
		}
	}
	if un := f.str("unit"); un != "" {
		var found *Unit
		for _, r := range s.visibleRelations(c, false) {
			if op.rel != nil && r != op.rel {
				continue
			}
			if tu := r.lookupUnit(u.app, un); tu != nil && tu.app != u.app {
				found = tu
			}
		}
		if found == nil || (op.app != nil && found.app != op.app) {
			return "", failf("unit %q not found", un)
		}
		op.unit, op.app = found, found.app
	}
	c.sec.grants = append(c.sec.grants, op)
	return "", nil
}

func grantTarget(viewer *App, r *Relation, g *secretGrant) string {
	if g.unit != nil {
		return "unit-" + strings.ReplaceAll(r.unitName(viewer, g.unit), "/", "-")
	}
	return "application-" + r.appName(viewer, g.app)
}

// secretMetadata is Juju's HookContext.SecretMetadata (worker/uniter/runner/context/context.go): the secrets this
// unit manages as this hook sees them. Secrets created in this hook are in it (revision 1); a pending secret-set
// shows its label, description, rotation and expiry but not a new revision (revisions are made at commit); a secret
// with a pending secret-remove, of any revision, is left out; pending grants and revokes show in access
// (secretsChangeRecorder.secretGrantInfo).
func (s *Sim) secretMetadata(c *hookContext) map[string]map[string]any {
	u := c.unit
	removed := map[*secret]bool{}
	for _, op := range c.sec.removes {
		removed[op.sec] = true
	}
	out := map[string]map[string]any{}
	for _, sc := range s.allSecrets(c) {
		if !sc.managedBy(u) || removed[sc] {
			continue
		}
		// secret-info-get's expiry is the latest revision's (state/secrets.go, LatestExpireTime).
		label, description, rotate, expire := sc.label, sc.description, sc.rotate, sc.latest().expire
		if up := c.sec.updates[sc]; up != nil {
			if up.label != nil {
				label = *up.label
			}
			if up.description != nil {
				description = *up.description
			}
			if up.rotate != nil {
				rotate = *up.rotate
			}
			if up.expire != nil {
				expire = *up.expire
			}
		}
		owner := "application"
		if sc.ownerUnit != nil {
			owner = "unit"
		}
		// secret-info-get's metadataDisplay: label is always printed, the rest only when set.
		info := map[string]any{"revision": sc.latest().rev, "owner": owner, "label": label}
		if description != "" {
			info["description"] = description
		}
		if rotate != "" {
			info["rotation"] = rotate
		}
		if !expire.IsZero() {
			info["expiry"] = expire.UTC().Format(time.RFC3339)
		}
		var access []any
		type grantKey struct {
			rel  *Relation
			app  *App
			unit *Unit
		}
		grants := map[grantKey]bool{}
		var order []grantKey
		for _, g := range sc.grants {
			if !g.rel.removed {
				k := grantKey{g.rel, g.app, g.unit}
				grants[k] = true
				order = append(order, k)
			}
		}
		for _, op := range c.sec.grants {
			if op.sec != sc {
				continue
			}
			for _, k := range order {
				if grants[k] && op.revoke && (op.rel == nil || k.rel == op.rel) && (op.app == nil || k.app == op.app) && (op.unit == nil || k.unit == op.unit) {
					grants[k] = false
				}
			}
			if k := (grantKey{op.rel, op.app, op.unit}); !op.revoke && !grants[k] {
				grants[k] = true
				order = append(order, k)
			}
		}
		for _, k := range order {
			if grants[k] {
				g := &secretGrant{rel: k.rel, app: k.app, unit: k.unit}
				access = append(access, map[string]any{"target": grantTarget(u.app, k.rel, g), "scope": "relation-" + k.rel.key(u.app), "role": "view"})
			}
		}
		if len(access) > 0 {
			info["access"] = access
		}
		out[sc.id] = info
	}
	return out
}

// toolSecretInfoGet is Juju's secret-info-get (worker/uniter/runner/jujuc/secret-info-get.go): the secret, by id or
// label, among secretMetadata.
func (s *Sim) toolSecretInfoGet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"label", "format"}, nil)
	if err != nil {
		return "", err
	}
	uri, label := "", f.str("label")
	if len(f.pos) > 0 {
		uri = f.pos[0]
	}
	if uri == "" && label == "" {
		return "", usagef("require either a secret URI or label")
	}
	if uri != "" && label != "" {
		return "", usagef("specify either a secret URI or label but not both")
	}
	all := s.secretMetadata(c)
	if uri != "" {
		id := parseSecretID(uri)
		if md, ok := all[id]; ok {
			return format(f, map[string]any{id: md}, "yaml")
		}
		return "", failf("secret %q not found", id)
	}
	for _, id := range sortedKeys(all) {
		if all[id]["label"] == label {
			return format(f, map[string]any{id: all[id]}, "yaml")
		}
	}
	return "", failf("secret %q not found", label)
}

func (s *Sim) toolSecretIDs(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"format"}, nil)
	if err != nil {
		return "", err
	}
	// secret-ids lists secretMetadata's ids (worker/uniter/runner/jujuc/secret-ids.go).
	var ids []string // null in JSON when there are none, as Juju's "var out []string"
	ids = append(ids, sortedKeys(s.secretMetadata(c))...)
	return format(f, ids, "yaml")
}

// commitSecretsLocked applies the hook's secret changes as commitHookChangesForOneUnit does (apiserver/facades/agent/
// uniter/uniter.go): one API call after another, creates, updates, tracked revisions, grants, revokes, deletes, each
// applied for good as it goes ("TODO - do in txn once we have support for that"). A call whose arguments fail
// returns the error (its other arguments are applied) and the calls after it are not made; the relation settings,
// ports and state of the hook are written only after every call succeeded, in one transaction (commitLocked).
func (c *hookContext) commitSecretsLocked(s *Sim) error {
	u := c.unit
	var errs []string
	for _, sc := range c.sec.adds {
		// createSecret: commonsecrets.OwnerToken checks the leadership of an application owner.
		if sc.ownerApp != nil && sc.ownerApp.leader != u {
			errs = append(errs, "this unit is not the leader")
			continue
		}
		// The pending create's expiry is stored now, rounded as Juju stores it.
		sc.revisions[0].setExpire(sc.revisions[0].expire)
		s.secrets[sc.id] = sc
	}
	if errs != nil {
		return fmt.Errorf("creating secrets: %s", strings.Join(errs, "\n"))
	}
	for _, sc := range sortedUpdates(c.sec.updates) {
		up := c.sec.updates[sc]
		if up.label != nil {
			sc.label = *up.label
		}
		if up.description != nil {
			sc.description = *up.description
		}
		if up.rotate != nil {
			sc.rotate = *up.rotate
		}
		// A new revision only when the content really changes (apiserver/facades/agent/secretsmanager
		// updateSecret drops content with the latest revision's checksum). The expiry goes to the new revision,
		// none if not given, else to the latest one (state/secrets.go UpdateSecret).
		if up.content != nil && !mapsEqual(up.content, sc.latest().content) {
			r := &secretRevision{rev: sc.latest().rev + 1, content: up.content}
			if up.expire != nil {
				r.setExpire(*up.expire)
			}
			sc.revisions = append(sc.revisions, r)
			s.secretChangedLocked(sc)
			s.checkObsoleteLocked(sc)
		} else if up.expire != nil {
			sc.latest().setExpire(*up.expire)
		}
	}
	// TrackLatest: a secret-get --refresh of this hook's own pending update moves the unit's tracked revision to the
	// revision the update made (updateTrackedRevisions).
	for _, sc := range sortedUpdates(c.sec.trackLatest) {
		if s.secrets[sc.id] != sc {
			continue
		}
		cs := sc.consumers[u]
		if cs == nil {
			cs = &consumerState{}
			sc.consumers[u] = cs
		}
		cs.rev = sc.latest().rev
		s.checkObsoleteLocked(sc)
	}
	for _, revoke := range []bool{false, true} {
		for _, op := range c.sec.grants {
			if op.revoke != revoke {
				continue
			}
			if revoke {
				var keep []*secretGrant
				for _, g := range op.sec.grants {
					match := (op.rel == nil || g.rel == op.rel) && (op.app == nil || g.app == op.app) && (op.unit == nil || g.unit == op.unit)
					if !match {
						keep = append(keep, g)
					}
				}
				op.sec.grants = keep
				continue
			}
			if err := grantAllowed(u, op); err != nil {
				errs = append(errs, err.Error())
				continue
			}
			dup := false
			for _, g := range op.sec.grants {
				if g.rel == op.rel && g.app == op.app && g.unit == op.unit {
					dup = true
				}
			}
			if !dup {
				op.sec.grants = append(op.sec.grants, &secretGrant{rel: op.rel, app: op.app, unit: op.unit})
			}
		}
		if errs != nil {
			return fmt.Errorf("granting secrets access: %s", strings.Join(errs, "\n"))
		}
	}
	for _, op := range c.sec.removes {
		sc := op.sec
		if op.rev == 0 {
			delete(s.secrets, sc.id)
			continue
		}
		var keep []*secretRevision
		for _, r := range sc.revisions {
			if r.rev != op.rev {
				keep = append(keep, r)
			}
		}
		if len(keep) == 0 {
			delete(s.secrets, sc.id)
			continue
		}
		sc.revisions = keep
	}
	return nil
}

// secretChanges is how many secret changes the hook's commit makes: creates, updates, grants, revokes, removes.
func (c *hookContext) secretChanges() int {
	return len(c.sec.adds) + len(c.sec.updates) + len(c.sec.grants) + len(c.sec.removes)
}

// grantAllowed is what the secretsGrant call refuses: over a cross-model relation only the offerer shares, and
// only with the whole application; an application grant where unit grants exist.
func grantAllowed(u *Unit, op secretGrantOp) error {
	if op.rel == nil {
		return nil
	}
	if op.rel.cmr != nil {
		if u.app.model == op.rel.cmr.consumer {
			return fmt.Errorf("sharing consumer secrets across a cross model relation not supported")
		}
		if op.unit != nil {
			return fmt.Errorf("sharing secrets with a unit across a cross model relation not supported")
		}
	}
	if op.unit == nil {
		for _, g := range op.sec.grants {
			if g.rel == op.rel && g.unit != nil {
				return fmt.Errorf("cannot grant secret to application %q: unit grants exist", op.app.name)
			}
		}
	}
	return nil
}

func sortedUnits[V any](m map[*Unit]V) []*Unit {
	var out []*Unit
	for u := range m {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func sortedUpdates(m map[*secret]*secretUpdate) []*secret {
	var out []*secret
	for sc := range m {
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// secretChangedLocked queues secret-changed for every consumer behind the latest revision.
func (s *Sim) secretChangedLocked(sc *secret) {
	latest := sc.latest().rev
	queue := func(cu *Unit, label string) {
		for _, h := range cu.secretEvents {
			if h.secret == sc && h.name == "secret-changed" {
				return
			}
		}
		cu.secretEvents = append(cu.secretEvents, &pendingHook{name: "secret-changed", secret: sc, secretLabel: label})
	}
	for _, cu := range sortedUnits(sc.consumers) {
		// An owner's own record (juju/juju#16598) only says what it reads; its secret hooks are unchanged: the
		// peer readers below.
		if cs := sc.consumers[cu]; !cu.removed && cs.rev < latest && !sc.ownedBy(cu) {
			queue(cu, cs.label)
		}
	}
	for cu, rev := range sc.peerReaders {
		if !cu.removed && rev < latest && cu.app.leader != cu {
			queue(cu, sc.label)
		}
	}
}

// ownerAgent is the unit that receives owner-side secret hooks: the owner unit or the leader.
func (sc *secret) ownerAgent() *Unit {
	switch {
	case sc.ownerUnit != nil:
		return sc.ownerUnit
	case sc.ownerApp != nil:
		return sc.ownerApp.leader
	}
	return nil // a user secret: the model owns it, no unit gets its owner hooks
}

// checkObsoleteLocked queues secret-remove to the owner for revisions no consumer tracks any more.
func (s *Sim) checkObsoleteLocked(sc *secret) {
	latest := sc.latest().rev
	tracked := map[int]bool{}
	for _, cs := range sc.consumers {
		tracked[cs.rev] = true
	}
	owner := sc.ownerAgent()
	for _, r := range sc.revisions {
		if r.rev == latest || tracked[r.rev] || sc.obsolete[r.rev] || owner == nil {
			continue
		}
		sc.obsolete[r.rev] = true
		// Marking the revision obsolete updates its record (state/secrets.go markObsoleteRevisionOps), so the
		// expiry watcher sends its expiry again and the worker's schedule restarts from it.
		r.expireNext = r.expire
		owner.secretEvents = append(owner.secretEvents, &pendingHook{name: "secret-remove", secret: sc, secretLabel: sc.label, secretRev: r.rev})
	}
}

// runSecretExpiryLocked is every owner's secret expiry worker (worker/secretexpire, Worker.expire and
// computeNextExpireTime) run from the last run up to now. Each revision with an expiry is a timer due at expireNext;
// the earliest due timer fires at its time (or at the last run, if it was set in the past: the worker fires at once),
// and each firing sweeps every revision whose expireNext, truncated to the minute ("a one minute granularity"), is
// not after the firing time: secret-expired with JUJU_SECRET_REVISION is queued to the owner (the unit, or the
// leader for an application secret) unless already pending (remotestate expireSecretRevisions keeps a set), and
// the revision's next trigger moves ExpireRetryDelay on. So a revision the charm neither removes nor re-expires
// gets secret-expired every 5 minutes; one clock step over several retries queues one hook. Removing the revision
// (or the secret) drops its timer; a new expiry restarts it (setExpire).
func (s *Sim) runSecretExpiryLocked(now time.Time) {
	type timer struct {
		sc *secret
		r  *secretRevision
	}
	var timers []timer
	for _, id := range sortedKeys(s.secrets) {
		sc := s.secrets[id]
		for _, r := range sc.revisions {
			if !r.expireNext.IsZero() {
				timers = append(timers, timer{sc, r})
			}
		}
	}
	for {
		var at time.Time
		for _, t := range timers {
			if !t.r.expireNext.After(now) && (at.IsZero() || t.r.expireNext.Before(at)) {
				at = t.r.expireNext
			}
		}
		if at.IsZero() {
			break
		}
		if at.Before(s.expiryRan) {
			at = s.expiryRan
		}
		for _, t := range timers {
			if t.r.expireNext.Truncate(time.Minute).After(at) {
				continue
			}
			t.r.expireNext = t.r.expireNext.Add(secretExpireRetryDelay)
			owner := t.sc.ownerAgent()
			if owner == nil {
				continue
			}
			pending := false
			for _, h := range owner.secretEvents {
				pending = pending || (h.name == "secret-expired" && h.secret == t.sc && h.secretRev == t.r.rev)
			}
			if !pending {
				owner.secretEvents = append(owner.secretEvents, &pendingHook{name: "secret-expired", secret: t.sc, secretLabel: t.sc.label, secretRev: t.r.rev})
			}
		}
	}
	s.expiryRan = now
}

// RotateSecret queues secret-rotate to the owner of the secret (by id or URI).
func (s *Sim) RotateSecret(uri string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.secrets[parseSecretID(uri)]
	if sc == nil {
		return fmt.Errorf("cannot rotate secret: secret %q not found", uri)
	}
	if owner := sc.ownerAgent(); owner != nil {
		owner.secretEvents = append(owner.secretEvents, &pendingHook{name: "secret-rotate", secret: sc, secretLabel: sc.label})
	}
	return nil
}

func (s *Sim) revokeRelationGrantsLocked(r *Relation) {
	for _, sc := range s.secrets {
		var keep []*secretGrant
		for _, g := range sc.grants {
			if g.rel != r {
				keep = append(keep, g)
			}
		}
		sc.grants = keep
	}
}

// SecretContentForTest returns the content of a secret's revision (0: latest). Test-only: the
// simulator never exposes content through State.
func (s *Sim) SecretContentForTest(uri string, rev int) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.secrets[parseSecretID(uri)]
	if sc == nil {
		return nil, fmt.Errorf("cannot get secret: secret %q not found", uri)
	}
	r := sc.latest()
	if rev > 0 {
		if r = sc.revision(rev); r == nil {
			return nil, fmt.Errorf("cannot get secret: revision %d not found", rev)
		}
	}
	return copyMap(r.content), nil
}
