package lab

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/simulations/scenario"
)

func TestFromScenarioPlacesLeadersAsTheScenario(t *testing.T) {
	for _, file := range []string{"hot-broker.yaml", "vivo-two-projects.yaml", "diurnal-20-projects.yaml"} {
		t.Run(file, func(t *testing.T) {
			s, err := scenario.Load("../scenarios/" + file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := FromScenario(s, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Brokers != s.Brokers.Count || cfg.Capacity.Produce != float64(s.Brokers.Capacity.Produce)*0.5 {
				t.Errorf("brokers %d capacity %v", cfg.Brokers, cfg.Capacity)
			}
			for i, p := range cfg.Projects {
				if p.Quota.Produce != float64(s.Projects[i].Produce.Share)*0.5 {
					t.Errorf("%s: quota %v, share %v", p.Name, p.Quota.Produce, s.Projects[i].Produce.Share)
				}
				got := map[int]float64{}
				var total float64
				for k, l := range p.Leaders {
					got[int(l)] += p.Weights[k]
					total += p.Weights[k]
				}
				for _, bw := range s.Placement(i) {
					if w := got[bw.Broker] / total; math.Abs(w-bw.Weight) > 1e-9 {
						t.Errorf("%s broker %d: lab weight %v, scenario %v", p.Name, bw.Broker, w, bw.Weight)
					}
				}
			}
		})
	}
}

// TestFromScenarioRefusesExemptTraffic: the lab does not replay exempt
// sources, so it refuses a scenario that has them instead of replaying a
// lighter one.
func TestFromScenarioRefusesExemptTraffic(t *testing.T) {
	s, err := scenario.Load("../scenarios/exempt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromScenario(s, 0.5); err == nil || !strings.Contains(err.Error(), "exempt traffic") {
		t.Fatalf("FromScenario with exempt traffic: %v, want a refusal naming it", err)
	}
}

func TestScenarioDemandCompressesTime(t *testing.T) {
	s, err := scenario.Load("../scenarios/vivo-two-projects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	d := ScenarioDemand(s, start, 3600, 0.01) // an hour per second
	first := s.Projects[0].Name
	for _, sec := range []int{0, 1, 6, 12, 30} {
		r := int(float64(sec)*3600/s.RoundInterval().Seconds()) % s.Rounds()
		got := d[first](start.Add(time.Duration(sec) * time.Second))
		if want := s.Rate(0, config.Produce, r) * 0.01; got.Produce != want {
			t.Errorf("t=%ds: produce %v, want %v (round %d)", sec, got.Produce, want, r)
		}
		if want := s.Rate(0, config.Fetch, r) * 0.01; got.Fetch != want {
			t.Errorf("t=%ds: fetch %v, want %v", sec, got.Fetch, want)
		}
	}
}

// TestLoadFollowsDemand: unthrottled, the producer is served what the
// demand asks and the consumer reads it back.
func TestLoadFollowsDemand(t *testing.T) {
	t.Parallel()
	c := startLab(t, Config{Brokers: 2, Projects: []Project{{Name: "a", Quota: Rates{Produce: 1 << 30, Fetch: 1 << 30}}}})
	demand := Rates{Produce: 1 << 20, Fetch: 1 << 20}
	load, err := StartLoad(t.Context(), c, map[string]DemandFunc{"a": func(time.Time) Rates { return demand }}, LoadOptions{RecordSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Close()
	// Load generators sending real records through the lab on wall time.
	testpeer.EventuallyNil(t, "the load is served", 30*time.Second, func() error {
		st := load.Stats()[0]
		if st.Demanded < 2<<20 || st.Produced < 0.95*st.Demanded-(64<<10) || st.Consumed < 0.8*st.Produced || st.Dropped > 0 {
			return errorf("stats %+v", st)
		}
		return nil
	})
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// TestRetentionBoundsMemory: with a small retention.bytes, old batches are
// dropped, so the log start offset moves forward.
func TestRetentionBoundsMemory(t *testing.T) {
	c := startLab(t, Config{Brokers: 1, RetentionBytes: 256 << 10, Projects: []Project{{Name: "a"}}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.DefaultProduceTopic("a.events"),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(32<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for range 64 {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: make([]byte, 16<<10)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	// Real records produced into the lab move its log start as they arrive.
	testpeer.EventuallyNil(t, "the log start moves past the retained bytes", 20*time.Second, func() error {
		starts, err := adm.ListStartOffsets(t.Context(), "a.events")
		if err != nil {
			return err
		}
		o, _ := starts.Lookup("a.events", 0)
		if o.Offset < 32 {
			return errorf("start offset %d", o.Offset)
		}
		return nil
	})
}
