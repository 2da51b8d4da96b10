package sim

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestAllocateNetSkipsRangesInUse: a range where something still listens (the workloads of a simulator killed
// before its cleanup) is not handed out again.
func TestAllocateNetSkipsRangesInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.77.1.1:0")
	if err != nil {
		t.Skip("cannot listen on 127.77.1.1:", err)
	}
	defer ln.Close()
	if !listeningIn(77) {
		t.Fatal("a listener on 127.77.1.1 is not seen")
	}
	if listeningIn(78) {
		t.Skip("something listens in 127.78.0.0/16 already")
	}
	// Starting at 77, the allocation moves past it.
	dir := filepath.Join(os.TempDir(), "jujusim-net")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Sim{}
	if err := s.allocateNetFrom(dir, 77-netFirst); err != nil {
		t.Fatal(err)
	}
	defer s.netLock.Close()
	if s.netOctet == 77 {
		t.Fatal("allocated the range a process listens in")
	}
}
