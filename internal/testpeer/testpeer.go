// Package testpeer starts real peer binaries (Prometheus, Alertmanager,
// node_exporter, Headroom itself) for tests: each on a free loopback port,
// ready-checked over HTTP within a deadline, and stopped when the test ends.
//
// A missing binary fails the test loudly with the command that installs it;
// tests never skip because a peer is absent.
//
// It also holds what tests of real peers share: Eventually and
// EventuallyNil, the one condition wait with a deadline, for conditions on
// real bytes through a real peer; Receiver, the one HTTP stand-in for an
// endpoint Headroom sends to whose outages a test toggles; LogBuffer, a
// log sink the code under test and the test share; and Gathered and
// Exposition, to read a registry. Only tests (and the test rigs under
// internal/) import this package; it imports nothing of Headroom.
package testpeer

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// DefaultReadyTimeout bounds how long a peer may take to become ready.
const DefaultReadyTimeout = 60 * time.Second

// Spec describes a peer process.
type Spec struct {
	// Name labels the peer in logs and failures.
	Name string
	// Binary is a name looked up in PATH, or a path.
	Binary string
	// Args returns the command line given the listen address host:port.
	Args func(addr string) []string
	// ReadyPath is polled with GET until it answers 200. Default "/-/ready".
	ReadyPath string
	// ReadyTimeout bounds the wait. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Env is added to the environment of the process.
	Env []string
	// Addr, when set, is the host:port to listen on instead of a free one,
	// e.g. to restart a peer where its clients expect it.
	Addr string
}

// Peer is a running peer process.
type Peer struct {
	Name string
	// Addr is the host:port the peer listens on.
	Addr string
	// URL is http://Addr.
	URL string

	cmd  *exec.Cmd
	out  *LogBuffer
	done chan struct{}
	err  error
}

// Logs returns what the peer has written to stdout and stderr so far.
func (p *Peer) Logs() string { return p.out.String() }

// Exited reports whether the process has ended, and its error.
func (p *Peer) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop terminates the peer now (SIGTERM, then SIGKILL) and waits for it.
func (p *Peer) Stop() { p.stop() }

// Signal sends sig to the peer.
func (p *Peer) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to d for the peer to exit and returns its exit error.
func (p *Peer) Wait(d time.Duration) (error, bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(d):
		return nil, false
	}
}

// LookPath finds a binary or fails the test with how to install it.
func LookPath(t testing.TB, binary string) string {
	t.Helper()
	path, err := exec.LookPath(binary)
	if err != nil {
		t.Fatalf("required binary %q not found: %v; run scripts/setup.sh (make test does) to install the test peers", binary, err)
	}
	return path
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("release port %s: %v", addr, err)
	}
	return addr
}

// Start starts the peer, waits until it is ready and registers its stop as
// a test cleanup. If the test fails, the peer's output is logged.
func Start(t testing.TB, s Spec) *Peer {
	t.Helper()
	if s.ReadyPath == "" {
		s.ReadyPath = "/-/ready"
	}
	if s.ReadyTimeout == 0 {
		s.ReadyTimeout = DefaultReadyTimeout
	}
	bin := LookPath(t, s.Binary)
	// A port taken between FreeAddr and the bind makes the peer exit; try a
	// few ports before giving up.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr := s.Addr
		if addr == "" {
			addr = FreeAddr(t)
		}
		p := &Peer{Name: s.Name, Addr: addr, URL: "http://" + addr, out: &LogBuffer{}, done: make(chan struct{})}
		p.cmd = exec.Command(bin, s.Args(addr)...)
		p.cmd.Stdout = p.out
		p.cmd.Stderr = p.out
		p.cmd.Env = append(os.Environ(), s.Env...)
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start %s (%s): %v", s.Name, bin, err)
		}
		go func() { p.err = p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			p.stop()
			if t.Failed() {
				t.Logf("output of %s:\n%s", s.Name, p.Logs())
			}
		})
		if err := p.waitReady(s.ReadyPath, s.ReadyTimeout); err != nil {
			lastErr = err
			if exited, _ := p.Exited(); exited && s.Addr == "" {
				continue
			}
			t.Fatalf("%s not ready: %v\n%s", s.Name, err, p.Logs())
		}
		return p
	}
	t.Fatalf("%s did not start: %v", s.Name, lastErr)
	return nil
}

func (p *Peer) waitReady(path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited before becoming ready: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("not ready at %s%s after %s: %v", p.URL, path, timeout, last)
		case <-tick.C:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("status %s", resp.Status)
	}
}

// stop terminates the peer: SIGTERM, then SIGKILL after five seconds.
func (p *Peer) stop() {
	if exited, _ := p.Exited(); exited {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// WriteFile writes content to name in a fresh temp dir of t and returns the
// path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}
