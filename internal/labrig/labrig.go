// Package labrig runs Headroom's daemon on a lab cluster for end-to-end
// tests. A Rig owns the lab cluster (simulations/lab: the real Kafka
// protocol through kfake, Kafka-style quota enforcement, jmx-style
// metrics) started from scenario text, the lab's load generators with the
// produce demand the test sets, the Headroom configuration demo.Config
// writes for the lab, and the daemon (daemon.Run in process) on that
// configuration and a SQLite store of its own. Rounds run when the test
// calls Step, or on the daemon's own ticker; every outcome is recorded.
//
// What a test checks, and any peer it adds (Alertmanager, a plugin), stay
// with the test. Only tests import this package.
package labrig

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headroomhq/headroom/daemon"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/server"
	"github.com/headroomhq/headroom/simulations/demo"
	"github.com/headroomhq/headroom/simulations/lab"
	"github.com/headroomhq/headroom/simulations/scenario"
)

// Rig is a lab cluster under load, its Headroom configuration and the
// daemon running on it. Traffic through the lab is real, so Step lets real
// time pass for bytes to flow; nothing in the rig sleeps to wait for the
// daemon's loop.
type Rig struct {
	// Lab is the cluster and Load its load generators.
	Lab  *lab.Cluster
	Load *lab.Load
	// ConfigFile and StorePath are the daemon's configuration file and
	// SQLite store, in a directory of the test's.
	ConfigFile string
	StorePath  string
	// URL is the daemon's HTTP address. It stays the same across restarts.
	URL string

	t        *testing.T
	scenario *scenario.Scenario
	window   lab.Window
	ln       net.Listener // for the next Start; nil while the daemon runs

	mu     sync.Mutex
	demand map[string]float64
	rounds []round.Outcome
	more   chan struct{} // signalled when an outcome is recorded

	next  int           // the first outcome Step has not returned
	clock *clock.Driven // nil: the daemon ticks by itself
	stop  context.CancelFunc
	done  chan struct{} // closed when daemon.Run has returned err
	err   error
}

// New starts a lab for the scenario text (rates as written, scale 1) whose
// brokers use the quota window w (Kafka's quota.window.num ×
// quota.window.size.seconds; lab.DefaultWindow is Kafka's default), and
// load generators whose demand is zero until Set. Everything stops when the
// test ends.
func New(t *testing.T, scenarioYAML string, w lab.Window) *Rig {
	t.Helper()
	return NewWithLoad(t, scenarioYAML, w, lab.LoadOptions{RecordSize: 4 << 10, BatchMaxBytes: 64 << 10})
}

// NewWithLoad is New with the load generators' options: records of 4 KiB
// in batches of at most 64 KiB, as New uses, or what lo sets.
func NewWithLoad(t *testing.T, scenarioYAML string, w lab.Window, lo lab.LoadOptions) *Rig {
	t.Helper()
	if w == (lab.Window{}) {
		w = lab.DefaultWindow
	}
	s, err := scenario.Parse([]byte(scenarioYAML), ".")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := lab.FromScenario(s, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Window = w
	c, err := lab.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	dir := t.TempDir()
	r := &Rig{Lab: c, ConfigFile: filepath.Join(dir, "headroom.yml"), StorePath: filepath.Join(dir, "headroom.db"),
		t: t, scenario: s, window: w, demand: map[string]float64{}, more: make(chan struct{}, 1)}
	t.Cleanup(r.close)
	demands := map[string]lab.DemandFunc{}
	for _, p := range s.Projects {
		name := p.Name
		demands[name] = func(time.Time) lab.Rates {
			r.mu.Lock()
			defer r.mu.Unlock()
			return lab.Rates{Produce: r.demand[name]}
		}
	}
	if r.Load, err = lab.StartLoad(context.Background(), c, demands, lo); err != nil {
		t.Fatalf("start load: %v", err)
	}
	if r.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	r.URL = "http://" + r.ln.Addr().String()
	return r
}

// Set sets a project's total produce demand, bytes/s.
func (r *Rig) Set(project string, produce float64) {
	r.mu.Lock()
	r.demand[project] = produce
	r.mu.Unlock()
}

// Config is demo.Config for the rig's lab at scale 1, with o.StorePath set
// to the rig's store and limiter.throttle_window to the brokers' quota
// window.
func (r *Rig) Config(o demo.ConfigOptions) string {
	r.t.Helper()
	o.StorePath = r.StorePath
	text, err := demo.Config(r.scenario, r.Lab, 1, o)
	if err != nil {
		r.t.Fatal(err)
	}
	window := time.Duration(r.window.Samples) * r.window.SampleWindow
	return strings.Replace(text, "limiter:\n", fmt.Sprintf("limiter:\n  throttle_window: %s\n", window), 1)
}

// WriteConfig replaces the configuration file at once, as an operator's
// deployment does: a reload never reads half a file.
func (r *Rig) WriteConfig(text string) {
	r.t.Helper()
	tmp := r.ConfigFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, r.ConfigFile); err != nil {
		r.t.Fatal(err)
	}
}

// Start runs the daemon on the rig's configuration and store, with rounds
// run by Step, and waits until it is ready.
func (r *Rig) Start() {
	r.t.Helper()
	r.start(clock.NewDriven(nil))
}

// StartTicker is Start with the rounds on the daemon's own ticker at
// global.round_interval, on wall time; the test reads them through Rounds
// and does not call Step.
func (r *Rig) StartTicker() {
	r.t.Helper()
	r.start(nil)
}

func (r *Rig) start(clk *clock.Driven) {
	r.t.Helper()
	if r.ln == nil {
		ln, err := net.Listen("tcp", strings.TrimPrefix(r.URL, "http://"))
		if err != nil {
			r.t.Fatalf("listen again at %s: %v", r.URL, err)
		}
		r.ln = ln
	}
	r.mu.Lock()
	r.next = len(r.rounds) // outcomes of an earlier run are not Step's
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	l, done := r.ln, make(chan struct{})
	r.ln, r.clock, r.stop, r.done = nil, clk, cancel, done
	opts := daemon.Options{ConfigFile: r.ConfigFile, Listener: l, Web: server.Web{EnableLifecycle: true}, Grace: 5 * time.Second, Logger: slog.New(slog.DiscardHandler),
		OnRound: r.record}
	if clk != nil {
		opts.Clock = clk
	}
	go func() {
		r.err = daemon.Run(ctx, opts)
		close(done)
	}()
	r.waitReady()
}

func (r *Rig) waitReady() {
	r.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// The daemon is a real HTTP server; its readiness is polled.
	testpeer.EventuallyNil(r.t, "the daemon ready", 20*time.Second, func() error {
		select {
		case <-r.done:
			r.t.Fatalf("the daemon stopped before it was ready: %v", r.err)
		default:
		}
		resp, err := client.Get(r.URL + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /-/ready: %s", resp.Status)
		}
		return nil
	})
}

func (r *Rig) record(o round.Outcome) {
	r.mu.Lock()
	r.rounds = append(r.rounds, o)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

// Done is closed when the running daemon has stopped; Err is then what
// daemon.Run returned.
func (r *Rig) Done() <-chan struct{} { return r.done }

// Err is what daemon.Run returned, once Done is closed.
func (r *Rig) Err() error { return r.err }

// Rounds is every outcome the daemon has reported, across restarts.
func (r *Rig) Rounds() []round.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]round.Outcome(nil), r.rounds...)
}

// Step lets d of real traffic flow through the lab, then returns the next
// round's outcome: one the daemon ran without a tick (a round an override
// forces) if there is one, or else the one a tick starts.
func (r *Rig) Step(d time.Duration) round.Outcome {
	r.t.Helper()
	time.Sleep(d) // traffic through the lab, not a wait on the loop
	timeout := time.After(2 * time.Minute)
	var tick chan<- time.Time
	if r.clock != nil {
		tick = r.clock.Tick()
	}
	for {
		r.mu.Lock()
		if r.next < len(r.rounds) {
			o := r.rounds[r.next]
			r.next++
			r.mu.Unlock()
			return o
		}
		r.mu.Unlock()
		select {
		case tick <- time.Now():
			tick = nil
		case <-r.more:
		case <-r.done:
			r.t.Fatalf("the daemon stopped: %v", r.err)
		case <-timeout:
			r.t.Fatal("no round outcome within 2m")
		}
	}
}

// Stop stops the daemon the way SIGTERM does; Start runs it again on the
// same configuration, store and URL.
func (r *Rig) Stop() {
	r.t.Helper()
	if r.stop == nil {
		return
	}
	r.stop()
	r.stop = nil
	<-r.done
	if r.err != nil {
		r.t.Fatalf("daemon: %v", r.err)
	}
}

// Quota is the produce quota the lab holds for a project's entity; NaN if
// none.
func (r *Rig) Quota(project string) float64 {
	for _, p := range r.Lab.Projects() {
		if p.Name != project {
			continue
		}
		var key []string
		for _, c := range p.Entity() {
			key = append(key, c.Type+"="+*c.Name)
		}
		if v, ok := r.Lab.Quotas()[strings.Join(key, ",")][lab.KeyProducerByteRate]; ok {
			return v
		}
	}
	return math.NaN()
}

func (r *Rig) close() {
	if r.stop != nil {
		r.stop()
		r.stop = nil
		<-r.done
		if r.err != nil {
			r.t.Errorf("daemon: %v", r.err)
		}
	}
	if r.ln != nil {
		r.ln.Close()
	}
	if r.Load != nil {
		r.Load.Close()
	}
	r.Lab.Close()
}
