package sim

import (
	"fmt"
	"time"
)

// The controller clock. Juju's timer-driven workers read an injected clock (worker/secretexpire Config.Clock); the
// simulator has one clock, Options.Now plus what Advance added, and no timers of its own: the timers due by the
// clock fire when a test calls Advance, so a test decides when time-driven hooks are queued.

// now is the controller clock; s.mu must be held.
func (s *Sim) now() time.Time { return s.opts.Now().Add(s.advanced) }

// Now returns the controller clock.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

// Advance moves the controller clock forward by d (0 leaves it where it is, for a clock that runs on its own such
// as time.Now) and fires the timers due by then: the secret expiry workers queue secret-expired (see
// runSecretExpiryLocked). It returns the new time. The queued hooks run on the next Settle.
func (s *Sim) Advance(d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, fmt.Errorf("cannot advance the clock by %v: time does not go back", d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanced += d
	now := s.now()
	s.runSecretExpiryLocked(now)
	return now, nil
}
