// Command jujuc is the simulator's hook-tool client: one small binary linked under every hook-tool
// name (relation-get, secret-add, ...). It forwards its name, arguments, the hook's context id and
// any file or stdin content the tool reads to the simulator over the unix socket in
// $JUJU_AGENT_SOCKET_ADDRESS, then prints the reply and exits with its code, as Juju's jujuc does.
//
// It imports only the standard library so that each call starts fast: a charm may run dozens of
// hook tools per hook.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// request is the wire form of one tool call; tests/sim decodes the same shape.
type request struct {
	Tool    string            `json:"tool"`
	Args    []string          `json:"args"`
	Context string            `json:"context"`
	Dir     string            `json:"dir,omitempty"`
	Stdin   []byte            `json:"stdin,omitempty"`
	Files   map[string][]byte `json:"files,omitempty"`
}

type response struct {
	Stdout []byte `json:"stdout,omitempty"`
	Stderr []byte `json:"stderr,omitempty"`
	Code   int    `json:"code"`
}

// readsFiles lists the tools whose --file (and secret key#file=) inputs are read here, in the
// hook's own mount namespace and cwd, rather than by the simulator.
var readsFiles = map[string]bool{"relation-set": true, "secret-add": true, "secret-set": true, "state-set": true, "leader-set": true}

func main() {
	os.Exit(run())
}

func run() int {
	req := request{Tool: filepath.Base(os.Args[0]), Args: os.Args[1:], Context: os.Getenv("JUJU_CONTEXT_ID")}
	req.Dir, _ = os.Getwd()
	if readsFiles[req.Tool] {
		if err := collectFiles(&req); err != nil {
			fmt.Fprintf(os.Stderr, "ERROR %v\n", err)
			return 1
		}
	}
	addr := os.Getenv("JUJU_AGENT_SOCKET_ADDRESS")
	if addr == "" {
		fmt.Fprintln(os.Stderr, "ERROR JUJU_AGENT_SOCKET_ADDRESS not set")
		return 1
	}
	conn, err := net.Dial("unix", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR cannot connect to agent: %v\n", err)
		return 1
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(&req); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR cannot send request: %v\n", err)
		return 1
	}
	var resp response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR cannot read reply: %v\n", err)
		return 1
	}
	os.Stdout.Write(resp.Stdout)
	os.Stderr.Write(resp.Stderr)
	return resp.Code
}

func collectFiles(req *request) error {
	args := req.Args
	for i := 0; i < len(args); i++ {
		a := args[i]
		var path string
		switch {
		case a == "--file" && i+1 < len(args):
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "--file="):
			path = strings.TrimPrefix(a, "--file=")
		default:
			// secret-add/secret-set accept key#file=path.
			if k, v, ok := strings.Cut(a, "="); ok && strings.HasSuffix(k, "#file") {
				path = v
			}
		}
		if path == "" {
			continue
		}
		if path == "-" {
			b, err := io.ReadAll(os.Stdin)
			if err != nil {
				return fmt.Errorf("cannot read stdin: %w", err)
			}
			req.Stdin = b
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if req.Files == nil {
			req.Files = map[string][]byte{}
		}
		req.Files[path] = b
	}
	return nil
}
