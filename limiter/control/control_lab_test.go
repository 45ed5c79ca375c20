package control

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/limiter/demand"
	"github.com/headroomhq/headroom/simulations/lab"
	"github.com/headroomhq/headroom/simulations/scenario"
	"github.com/headroomhq/headroom/store"
)

// The lab replay of vivo-two-projects: two projects whose produce peaks are
// six hours apart on one broker, replayed from 06:00 to 18:00 (both peaks)
// with twelve hours played in labWall of real time, at labScale of the
// scenario's rates. The limiter's round is labRound of real time.
const (
	labScale = 0.02 // 100 MB/s of capacity becomes 2 MB/s
	labFrom  = 6 * time.Hour
	labSpan  = 12 * time.Hour
	labWall  = 36 * time.Second
	labRound = 200 * time.Millisecond
)

// labWindow is Kafka's quota window shortened so that the compressed day
// has whole windows in each phase of a peak; the formula is unchanged.
var labWindow = lab.Window{Samples: 10, SampleWindow: 100 * time.Millisecond}

// TestLabLimiterMovesQuotasAndCutsThrottling runs the same compressed day
// twice on the lab cluster (real Kafka protocol, the lab enforcing the
// quotas set through AlterClientQuotas): once with the static shares and
// once with the limiter, which reads each round's byte rate and throttle
// time from the lab broker's own metrics page, plans with limiter.Allocate
// and writes through the applier over kadm. The bytes the lab's producers
// could not get served must fall by at least 80%.
func TestLabLimiterMovesQuotasAndCutsThrottling(t *testing.T) {
	t.Parallel()
	s, err := scenario.Load(filepath.Join("..", "..", "simulations", "scenarios", "vivo-two-projects.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var static, limited labOutcome
	// One after the other: two labs at once on a small machine starve each
	// other's clients, and a starved producer loses bytes no quota took.
	t.Run("static", func(t *testing.T) { static = labReplay(t, s, false) })
	t.Run("limiter", func(t *testing.T) { limited = labReplay(t, s, true) })
	if t.Failed() {
		return
	}
	t.Logf("static:  demanded %.1f MB, unserved %.2f MB (%.2f%%)", static.demanded/1e6, static.unserved/1e6, 100*static.unserved/static.demanded)
	t.Logf("limiter: demanded %.1f MB, unserved %.2f MB (%.2f%%), %d quota writes, peak quotas %v",
		limited.demanded/1e6, limited.unserved/1e6, 100*limited.unserved/limited.demanded, limited.writes, limited.peak)

	// The static run must really throttle: each peak is 30 MB/s above its
	// 50 MB/s share for hours, several percent of the day's demand.
	if static.unserved < 0.02*static.demanded {
		t.Fatalf("static quotas left only %.2f%% of demand unserved; the scenario should throttle its peaks", 100*static.unserved/static.demanded)
	}
	if cut := 1 - limited.unserved/static.unserved; cut < 0.8 {
		t.Errorf("the limiter cut unserved bytes by %.0f%% against static quotas; want at least 80%%", 100*cut)
	}
	// The quotas moved through the Kafka API: each project was raised
	// above its share at its peak.
	for _, p := range s.Projects {
		share := float64(p.Produce.Share) * labScale
		if q := limited.peak[p.Name]; q < 1.2*share {
			t.Errorf("%s: highest quota read back %.0f B/s, share %.0f B/s: it never borrowed", p.Name, q, share)
		}
	}
	if limited.writes == 0 || limited.recorded == 0 {
		t.Errorf("%d writes, %d ledger entries", limited.writes, limited.recorded)
	}
}

type labOutcome struct {
	demanded, unserved float64
	writes, recorded   int
	peak               map[string]float64 // highest produce quota read back
}

func labReplay(t *testing.T, s *scenario.Scenario, withLimiter bool) labOutcome {
	ctx := t.Context()
	cfg, err := lab.FromScenario(s, labScale)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Window = labWindow
	// Eight partitions per project on the one broker, so that a produce
	// request is small against a window of quota and the served rate is
	// steady.
	for i := range cfg.Projects {
		cfg.Projects[i].Leaders = make([]int32, 8)
		cfg.Projects[i].Weights = []float64{1, 1, 1, 1, 1, 1, 1, 1}
	}
	c, err := lab.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	defer c.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ap := applier.New(kadm.NewClient(cl), applier.Config{Backoff: 20 * time.Millisecond})
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ents := map[string]config.Entity{}
	for _, p := range c.Projects() {
		ents[p.Name] = config.Entity{User: p.User, ClientID: p.ClientID}
	}
	ctl := New(ap, db, "enforce", ents)

	compression := labSpan.Seconds() / labWall.Seconds()
	start := time.Now()
	replayStart := start.Add(-time.Duration(float64(labFrom) / compression))
	load, err := lab.StartLoad(ctx, c, lab.ScenarioDemand(s, replayStart, compression, labScale),
		lab.LoadOptions{RecordSize: 4 << 10, BatchMaxBytes: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	out := labOutcome{peak: map[string]float64{}}
	fc := labForecaster{}
	mems := map[string]*demand.Memory{}
	metricsURL := c.MetricsURLs()[0]
	tick := time.NewTicker(labRound)
	defer tick.Stop()
	for time.Since(start) < labWall {
		select {
		case <-ctx.Done():
			load.Close()
			t.Fatal(ctx.Err())
		case <-tick.C:
		}
		if !withLimiter {
			continue
		}
		st, err := labState(ctx, s, c, metricsURL, fc, mems)
		if err != nil {
			load.Close()
			t.Fatal(err)
		}
		r, err := ctl.Step(ctx, time.Now(), []*limiter.State{st})
		if err != nil {
			load.Close()
			t.Fatalf("round %d: %v", r.Index, err)
		}
		for _, res := range r.Results {
			if res.Outcome == applier.Written {
				out.writes++
			}
			out.peak[res.Project] = max(out.peak[res.Project], res.InForce)
		}
		for _, p := range r.Plans {
			out.recorded += len(p.Decisions)
		}
	}
	load.Close()
	for _, st := range load.Stats() {
		out.demanded += st.Demanded
		out.unserved += st.Demanded - st.Produced
	}
	if withLimiter {
		// The ledger holds every round's decisions.
		e, err := db.DecisionAt(ctx, s.Projects[0].Name, "produce", time.Now())
		if err != nil {
			t.Fatalf("ledger: %v", err)
		}
		if e.Mode != "enforce" {
			t.Errorf("ledger entry mode %q", e.Mode)
		}
	}
	return out
}

// labForecaster stands in for the detector's forecast upper bound (the
// lead's end-to-end test runs the real collector and detector): 10% above
// the largest demand estimate of the last labHistory rounds, each estimate
// being the measured rate or, while throttled, quota × (1 + throttle/window).
// It keeps a quota from following a momentary dip in what a client sends;
// 25 rounds are five seconds, some ninety minutes of the compressed day.
type labForecaster map[string][]float64

const labHistory = 25

func (f labForecaster) forecast(project string, estimate float64) float64 {
	h := append(f[project], estimate)
	if len(h) > labHistory {
		h = h[len(h)-labHistory:]
	}
	f[project] = h
	var top float64
	for _, v := range h {
		top = max(top, v)
	}
	return 1.1 * top
}

// labState builds the produce state of the scenario's one group from what
// the lab broker shows on its metrics page: each project's byte rate and
// throttle time over the quota window, as a Kafka broker's quota sensors
// report them through jmx_exporter.
func labState(ctx context.Context, s *scenario.Scenario, c *lab.Cluster, url string, fc labForecaster, mems map[string]*demand.Memory) (*limiter.State, error) {
	mfs, err := scrapeLab(ctx, url)
	if err != nil {
		return nil, err
	}
	window := time.Duration(labWindow.Samples) * labWindow.SampleWindow
	capacity := float64(s.Brokers.Capacity.Produce) * labScale
	st := &limiter.State{
		Group: s.Name, Direction: config.Produce, Margin: s.Brokers.Margin,
		Brokers: []limiter.Broker{{ID: 0, Capacity: capacity}},
		Options: limiter.Options{Hysteresis: 0.05, Headroom: 0.1, LenderSpare: 0.1, ThrottleWindow: window},
	}
	quotas := c.Quotas()
	for i, p := range c.Projects() {
		sp := s.Projects[i].Produce
		rate := entityValue(mfs, "kafka_server_quota_byte_rate", p.ClientID)
		th := entityValue(mfs, "kafka_server_quota_throttle_time", p.ClientID)
		quota := quotas["client-id="+p.ClientID]["producer_byte_rate"]
		dp := demand.DefaultParams()
		dp.Window = window
		if mems[p.Name] == nil {
			mems[p.Name] = &demand.Memory{}
		}
		in := demand.Input{Quota: quota, Share: float64(sp.Share) * labScale, Loads: []demand.Observed{{Broker: 0, Weight: 1, Served: rate, ThrottleMs: th}}}
		ests := make([]demand.Estimate, 1)
		est := dp.Estimates(&in, ests)
		in.Upper = fc.forecast(p.Name, est)
		in.Expected = in.Upper / 1.1
		st.Projects = append(st.Projects, limiter.Project{
			Name:    p.Name,
			Share:   float64(sp.Share) * labScale,
			Floor:   float64(sp.Floor) * labScale,
			Ceiling: float64(sp.Ceiling) * labScale,
			Weight:  1,
			// The controller replaces this with the last good value it
			// read back once it has one.
			Quota: quota,
			Loads: dp.Loads(mems[p.Name], &in, ests, nil),
		})
	}
	return st, nil
}

func scrapeLab(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	return mfs, nil
}

// entityValue is the produce sample of family name for a client-id entity;
// zero when the broker has no sensor for it (no traffic in the window).
func entityValue(mfs map[string]*dto.MetricFamily, name, clientID string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	for _, m := range mf.Metric {
		var res, cid string
		for _, l := range m.Label {
			switch l.GetName() {
			case "resource":
				res = l.GetValue()
			case "clientId":
				cid = l.GetValue()
			}
		}
		if res == "Produce" && cid == clientID {
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
