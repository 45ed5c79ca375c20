package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/daemon"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/simulations/lab"
	"github.com/headroomhq/headroom/simulations/scenario"
	"github.com/headroomhq/headroom/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a lab cluster under the real daemon, with rounds driven by the
// test: step sends one tick and waits for that round's outcome. Traffic
// through the lab is real, so the test lets real time pass between rounds
// for bytes to flow; it never sleeps to wait for the loop itself.
type rig struct {
	t       *testing.T
	s       *scenario.Scenario
	lab     *lab.Cluster
	load    *lab.Load
	dir     string
	cfgFile string
	base    string

	mu     sync.Mutex
	demand map[string]lab.Rates

	tick   chan time.Time
	rounds chan round.Outcome
	stop   context.CancelFunc
	errc   chan error
}

// newRig starts a lab for the scenario text (rates as written, scale 1) with
// demand set by the test through set.
func newRig(t *testing.T, scenarioYAML string, round time.Duration) *rig {
	return newRigWindow(t, scenarioYAML, round, lab.DefaultWindow)
}

// newRigWindow is newRig with the brokers' quota window set (Kafka's
// quota.window.num × quota.window.size.seconds), and Headroom's
// limiter.throttle_window set to match.
func newRigWindow(t *testing.T, scenarioYAML string, round time.Duration, w lab.Window) *rig {
	t.Helper()
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
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &rig{t: t, s: s, lab: c, dir: dir, cfgFile: filepath.Join(dir, "headroom.yml"), demand: map[string]lab.Rates{}}
	t.Cleanup(r.close)
	text, err := Config(s, c, 1, ConfigOptions{RoundInterval: round, StorePath: filepath.Join(r.dir, "headroom.db")})
	if err != nil {
		t.Fatal(err)
	}
	window := time.Duration(w.Samples) * w.SampleWindow
	text = strings.Replace(text, "limiter:\n", fmt.Sprintf("limiter:\n  throttle_window: %s\n", window), 1)
	r.writeConfig(text)
	demands := map[string]lab.DemandFunc{}
	for _, p := range s.Projects {
		name := p.Name
		demands[name] = func(time.Time) lab.Rates {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.demand[name]
		}
	}
	r.load, err = lab.StartLoad(context.Background(), c, demands, lab.LoadOptions{RecordSize: 4 << 10, BatchMaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) writeConfig(text string) {
	r.t.Helper()
	tmp := r.cfgFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, r.cfgFile); err != nil {
		r.t.Fatal(err)
	}
}

// set sets a project's total produce demand, bytes/s.
func (r *rig) set(project string, produce float64) {
	r.mu.Lock()
	r.demand[project] = lab.Rates{Produce: produce}
	r.mu.Unlock()
}

// startDaemon runs the daemon on the rig's config and store.
func (r *rig) startDaemon() {
	r.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	r.base = "http://" + l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	r.tick, r.rounds, r.stop, r.errc = make(chan time.Time), make(chan round.Outcome, 16), cancel, make(chan error, 1)
	rounds := r.rounds
	go func() {
		r.errc <- daemon.Run(ctx, daemon.Options{ConfigFile: r.cfgFile, Listener: l, Grace: time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tick: r.tick,
			OnRound: func(o round.Outcome) { rounds <- o }})
	}()
}

// stopDaemon stops the daemon the way SIGTERM does.
func (r *rig) stopDaemon() {
	r.t.Helper()
	if r.stop == nil {
		return
	}
	r.stop()
	if err := <-r.errc; err != nil {
		r.t.Fatalf("daemon: %v", err)
	}
	r.stop = nil
}

// step lets d of real traffic pass, runs one round and returns it.
func (r *rig) step(d time.Duration) round.Outcome {
	r.t.Helper()
	time.Sleep(d) // traffic through the lab, not a wait on the loop
	select {
	case r.tick <- time.Now():
	case err := <-r.errc:
		r.t.Fatalf("daemon stopped: %v", err)
	case <-time.After(30 * time.Second):
		r.t.Fatal("the round loop did not take a tick within 30s")
	}
	select {
	case o := <-r.rounds:
		return o
	case <-time.After(60 * time.Second):
		r.t.Fatal("no round outcome within 60s")
	}
	return round.Outcome{}
}

// quota is the produce quota the lab holds for a project; NaN if none.
func (r *rig) quota(project string) float64 {
	for _, p := range r.lab.Projects() {
		if p.Name == project {
			if v, ok := r.lab.Quotas()[entityKey(p.User, p.ClientID)][lab.KeyProducerByteRate]; ok {
				return v
			}
		}
	}
	return math.NaN()
}

func (r *rig) stats(project string) lab.LoadStats {
	for _, s := range r.load.Stats() {
		if s.Project == project {
			return s
		}
	}
	r.t.Fatalf("no load for project %s", project)
	return lab.LoadStats{}
}

func (r *rig) store() *store.DB {
	r.t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(r.dir, "headroom.db"))
	if err != nil {
		r.t.Fatal(err)
	}
	return db
}

func (r *rig) close() {
	if r.stop != nil {
		r.stop()
		<-r.errc
		r.stop = nil
	}
	if r.load != nil {
		r.load.Close()
	}
	r.lab.Close()
}

func decision(o round.Outcome, project, dir string) (d struct {
	Before, After, Demand float64
	Reasons               []string
}, ok bool) {
	for _, p := range o.Plans {
		if p.Direction.String() != dir {
			continue
		}
		for _, x := range p.Decisions {
			if x.Project == project {
				d.Before, d.After, d.Demand = x.Before, x.After, x.Demand
				for _, r := range x.Reasons {
					d.Reasons = append(d.Reasons, string(r))
				}
				return d, true
			}
		}
	}
	return d, false
}
