package testpeer

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestNodeExporterServesMetrics(t *testing.T) {
	p := NodeExporter(t)
	resp, err := http.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatalf("scrape node_exporter: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if !strings.Contains(string(b), "node_cpu_seconds_total") {
		t.Fatalf("node_exporter page lacks node_cpu_seconds_total:\n%.500s", b)
	}
}

func TestStartFailsOnUnreadyPeer(t *testing.T) {
	// A peer that exits at once must be reported, not waited on forever.
	ft := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = recover() }()
		Start(ft, Spec{Name: "false", Binary: "false", Args: func(string) []string { return nil }})
	}()
	<-done
	if !ft.fatal {
		t.Fatal("Start did not fail for a binary that exits immediately")
	}
}

func TestLookPathFailsLoudly(t *testing.T) {
	ft := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = recover() }()
		LookPath(ft, "headroom-no-such-binary")
	}()
	<-done
	if !ft.fatal || !strings.Contains(ft.msg, "scripts/setup.sh") {
		t.Fatalf("LookPath did not fail with an install hint: fatal=%v msg=%q", ft.fatal, ft.msg)
	}
}

// fakeTB records Fatalf instead of ending the real test; Fatalf panics to
// stop the caller, which the test goroutine recovers.
type fakeTB struct {
	testing.TB
	fatal bool
	msg   string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = true
	f.msg = format
	panic("fatal")
}
