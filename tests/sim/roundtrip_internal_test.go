package sim

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkToolRoundTrip measures one hook-tool request over the agent socket without the
// jujuc process (what is left of a call's cost once the binary has started).
func BenchmarkToolRoundTrip(b *testing.B) {
	s, err := New(&Options{Dir: b.TempDir(), BinDir: filepath.Join(os.TempDir(), "tls-authority-test-bin"), NoContainers: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m, _ := s.AddModel("m")
	file := filepath.Join("..", "testcharm")
	a, err := m.Deploy("a", file, nil)
	if err != nil {
		b.Fatal(err)
	}
	u := a.units[0]
	s.mu.Lock()
	c := s.newContextLocked(u, &pendingHook{name: "update-status"})
	s.mu.Unlock()
	req, _ := json.Marshal(&toolRequest{Tool: "is-leader", Args: []string{"--format=json"}, Context: c.id})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		conn, err := net.Dial("unix", s.sock)
		if err != nil {
			b.Fatal(err)
		}
		conn.Write(append(req, '\n'))
		var resp toolResponse
		if err := json.NewDecoder(conn).Decode(&resp); err != nil || string(resp.Stdout) != "true\n" {
			b.Fatalf("%v %q", err, resp.Stdout)
		}
		conn.Close()
	}
}
