package charm

import (
	"os"
	"path/filepath"

	"github.com/tls-authority/tls-authority/hooktool"
)

// statusCacheFile remembers, in the unit's charm directory, the workload status this unit last set. status-set is
// applied at once by Juju (not with the hook's commit), so the file is right whether the hook then succeeds or not;
// a hook with an unchanged status then makes no status-set call. Hooks after which Juju may have set a status of
// its own (install, start, upgrade-charm) always set it; a missing or unreadable file only costs one call. A new
// pod has an empty charm directory, so its first hook, whichever it is, sets the status again.
const statusCacheFile = ".tls-authority-status"

var alwaysSetStatus = map[string]bool{"install": true, "start": true, "upgrade-charm": true}

func (r *reconciler) setUnitStatus(s hooktool.Status, msg string) error {
	want := string(s) + "\x00" + msg
	var path string
	if dir := r.hc.Env.CharmDir; dir != "" {
		path = filepath.Join(dir, statusCacheFile)
		if !alwaysSetStatus[r.hc.Env.HookName] {
			if have, err := os.ReadFile(path); err == nil && string(have) == want {
				return nil
			}
		}
	}
	if err := r.hc.SetStatus(s, msg); err != nil {
		return err
	}
	if path != "" {
		// Best effort: without the file the next hook just sets the status again.
		_ = os.WriteFile(path, []byte(want), 0o644)
	}
	return nil
}
