package charm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/certtransfer"
)

// Endpoints of certificate_transfer.
const (
	SendEndpoint    = "send-ca-cert"
	ReceiveEndpoint = "receive-ca-cert"
)

// Peer key: digest of the bundle the leader last sent, so a steady hook knows it need not look at send-ca-cert.
const peerSentBundle = "sent-bundle"

// receivedCacheFile keeps, in the unit's charm directory, the CAs last read on receive-ca-cert. It describes
// remote data only, so it stays true whether this hook commits or not; hooks of that endpoint refresh it, and a
// missing file (a new pod's empty charm directory) makes the hook read every relation again.
const receivedCacheFile = ".tls-authority-received.json"

// received returns the CAs other applications send this one: read from Juju in hooks that may have changed them,
// else from the cache.
func (r *reconciler) received() (*certtransfer.Received, error) {
	path := filepath.Join(r.hc.Env.CharmDir, receivedCacheFile)
	if r.hc.Env.RelationName != ReceiveEndpoint && !fullScanHooks[r.hc.Env.HookName] && r.hc.Env.CharmDir != "" {
		if b, err := os.ReadFile(path); err == nil {
			var got certtransfer.Received
			if json.Unmarshal(b, &got) == nil {
				return &got, nil
			}
		}
	}
	got, err := certtransfer.NewRequirer(r.hc, ReceiveEndpoint).Sync()
	if err != nil {
		return nil, err
	}
	for _, p := range got.Problems {
		if err := r.hc.Log(hooktool.LevelWarning, "%s", p); err != nil {
			return nil, err
		}
	}
	if r.hc.Env.CharmDir != "" {
		_ = os.WriteFile(path, []byte(mustJSON(got)), 0o644) // best effort: a cache
	}
	return got, nil
}

// sentBundle is what this authority sends on send-ca-cert: the CAs it signs with (the current one first: v0
// requirers trust only the first), the CAs of a rotation's overlap, their issuers up to the roots in intermediate
// mode (the roots are what a client must trust; the intermediates let it verify a chain sent without them), and the
// received CAs when forward-received-cas is set.
func (r *reconciler) sentBundle(pub *published, got *certtransfer.Received) []string {
	set := pub.Trust()
	if r.cfg != nil && r.cfg.ForwardReceivedCAs && got != nil {
		set = append(set, got.All()...)
	}
	var out []string
	for _, c := range set {
		c = strings.TrimSpace(c)
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func digest(set []string) string {
	h := sha256.Sum256([]byte(strings.Join(set, "\x00")))
	return hex.EncodeToString(h[:8])
}

// sendCAs publishes the bundle on every send-ca-cert relation: v1 in the app databag (leader) when the requirer
// announced version 1, else v0 in each unit's own databag — and clears a unit's v0 keys once the requirer speaks
// v1 or the set empties, which the Python library forgets to do.
func (r *reconciler) sendCAs(bundle []string) error {
	d := digest(bundle)
	hook := r.hc.Env.HookName
	// Look at send-ca-cert when anything the bundle is made of may have moved: its own hooks, received CAs
	// (receive-ca-cert hooks), the leader's published CAs (peer hooks), config, full scans. The digest of what the
	// leader last sent covers the rest; it says nothing of a non-leader's own v0 databag, hence the hook list.
	if r.hc.Env.RelationName != SendEndpoint && r.hc.Env.RelationName != ReceiveEndpoint && !fullScanHooks[hook] &&
		!strings.HasPrefix(hook, PeerEndpoint+"-relation-") && r.peer[peerSentBundle] == d {
		return nil
	}
	ids, err := r.hc.RelationIDs(SendEndpoint)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if strings.HasSuffix(hook, "-relation-broken") && id == r.hc.Env.RelationID {
			continue
		}
		remote, err := r.hc.RemoteApp(id)
		if err != nil {
			return err
		}
		theirs, err := r.hc.AppData(id, remote)
		if err != nil {
			return err
		}
		v1 := certtransfer.RequirerVersion(theirs) == 1
		if r.leader {
			own, err := r.hc.AppData(id, r.hc.Env.AppName())
			if err != nil {
				return err
			}
			want := map[string]string{certtransfer.KeyCertificates: "", certtransfer.KeyVersion: ""}
			if v1 {
				want = certtransfer.WriteV1(bundle)
			}
			if err := r.hc.SetAppData(id, diff(own, want)); err != nil {
				return err
			}
		}
		mine, err := r.hc.UnitData(id, r.hc.Env.UnitName)
		if err != nil {
			return err
		}
		want := certtransfer.ClearV0()
		if !v1 {
			want = certtransfer.WriteV0(bundle)
		}
		if err := r.hc.SetUnitData(id, diff(mine, want)); err != nil {
			return err
		}
	}
	if r.leader {
		return r.setPeer(map[string]string{peerSentBundle: d})
	}
	return nil
}

// diff keeps the keys of want whose value differs from have ("" deletes; deleting a missing key is no change).
func diff(have, want map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range want {
		if have[k] != v {
			out[k] = v
		}
	}
	return out
}
