package hooktool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors for hook-tool failures a caller can act on.
var (
	// ErrNotFound: the secret, label or key asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNotLeader: the call needs leadership and this unit does not hold it.
	ErrNotLeader = errors.New("this unit is not the leader")
	// ErrPermission: Juju refused the read or write (e.g. a non-leader reading its app databag).
	ErrPermission = errors.New("permission denied")
	// ErrRelationNotFound: the relation id is unknown to this unit.
	ErrRelationNotFound = errors.New("relation not found")
)

// MaxArg is the most one hook-tool argument may hold: three quarters of the 128 KiB Linux allows one argument
// (MAX_ARG_STRLEN, its NUL included), since every hook tool is a process. Tools with --file take more that way.
const MaxArg = 96 << 10

// Runner runs one hook tool and returns what it printed on stdout.
// A tool that exits non-zero gives a *ToolError.
type Runner interface {
	Run(ctx context.Context, tool string, args []string, stdin []byte) ([]byte, error)
}

// ToolError is a hook tool that ran and failed.
type ToolError struct {
	Tool     string
	Args     []string
	ExitCode int
	Stderr   string
}

func (e *ToolError) Error() string {
	msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(e.Stderr), "ERROR "))
	return fmt.Sprintf("%s failed (exit %d): %s", e.Tool, e.ExitCode, msg)
}

// Unwrap maps Juju's messages to the sentinel errors, so callers can use errors.Is.
func (e *ToolError) Unwrap() error {
	msg := e.Stderr
	switch {
	case strings.Contains(msg, "relation not found"):
		return ErrRelationNotFound
	case strings.Contains(msg, "not the leader"):
		return ErrNotLeader
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "cannot write relation settings"):
		return ErrPermission
	case strings.Contains(msg, "not found"):
		return ErrNotFound
	}
	return nil
}

// ExecRunner runs hook tools as processes found on PATH, as Juju provides them.
type ExecRunner struct {
	// Timeout bounds each call; a tool that hangs must not hang the hook forever. Zero means 60 s.
	Timeout time.Duration
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, tool string, args []string, stdin []byte) ([]byte, error) {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	// On timeout kill the tool's whole process group: a child that holds stdout open would otherwise keep Wait
	// blocked long after the tool itself died.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && ctx.Err() == nil {
			return nil, &ToolError{Tool: tool, Args: args, ExitCode: exitErr.ExitCode(), Stderr: stderr.String()}
		}
		return nil, fmt.Errorf("cannot run %s: %w", tool, errors.Join(err, ctx.Err()))
	}
	return stdout.Bytes(), nil
}
