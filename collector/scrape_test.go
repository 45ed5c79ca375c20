package collector

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/testpeer"
)

const jmxFixture = "kafka_jmx_exporter-1.0.1_rules-jmx_exporter-kafka-2_0_0.prom"

// endlessZeros is a body that never ends: the stand-in for a 10 GB page.
type endlessZeros struct{}

func (endlessZeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

func TestBadInputIsATargetError(t *testing.T) {
	good := readFixture(t, jmxFixture)
	huge := "kafka_server_brokertopicmetrics_bytesin_total{topic=\"" + strings.Repeat("x", 2<<20) + "\"} 1\n"
	hugeUnder := "kafka_server_brokertopicmetrics_bytesin_total{topic=\"" + strings.Repeat("x", 200<<10) + "\"} 1\n"
	cases := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"truncated page", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(good[:len(good)/2+7])
		}, "parse exposition"},
		{"binary garbage", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte{0x00, 0xff, 0xfe, 0x1f, 0x8b, '{', '}', 0x00, '\n'})
		}, "parse exposition"},
		{"huge label over the body limit", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, huge)
		}, "size limit"},
		{"huge label under the body limit", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(good)
			_, _ = io.WriteString(w, hugeUnder)
		}, "longer than"},
		{"huge label name", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "kafka_server_brokertopicmetrics_bytesin_total{"+strings.Repeat("l", 100<<10)+"=\"a\"} 1\n")
		}, "longer than"},
		{"one series twice", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(good)
			_, _ = io.WriteString(w, "kafka_server_brokertopicmetrics_bytesin_total{topic=\"orders\"} 5\n")
		}, "duplicate series"},
		{"out-of-order samples of one counter", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "kafka_server_brokertopicmetrics_bytesin_total 900 2000\nkafka_server_brokertopicmetrics_bytesin_total 700 1000\n")
		}, "duplicate series"},
		{"10 GB body", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.Copy(w, io.LimitReader(endlessZeros{}, 10<<30))
		}, "size limit"},
		{"gzip bomb", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			_, _ = io.Copy(gz, io.LimitReader(endlessZeros{}, 64<<20))
			_ = gz.Close()
		}, "size limit"},
		{"HTTP 500", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, "500"},
		{"bad gzip", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write([]byte("not gzip at all"))
		}, "gzip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := httptest.NewServer(tc.handler)
			defer bad.Close()
			goodSrv := newPageServer(t, good)
			clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			cfg := testCollectorConfig()
			cfg.BodySizeLimit = 1 << 20
			c, err := New(Options{Config: cfg, Projects: testProjects(), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			s := c.Round(context.Background(), []Target{
				{URL: bad.URL + "/metrics", Profile: "kafka-jmx", BrokerID: "1"},
				{URL: goodSrv.URL + "/metrics", Profile: "kafka-jmx", BrokerID: "2"},
			})
			var badSt, goodSt TargetStatus
			for _, st := range s.Targets {
				if strings.HasPrefix(st.Target, bad.URL) {
					badSt = st
				} else {
					goodSt = st
				}
			}
			if badSt.Up || !strings.Contains(badSt.Error, tc.wantErr) || !strings.Contains(badSt.Error, bad.URL) {
				t.Errorf("bad target status = %+v, want an error naming the URL and containing %q", badSt, tc.wantErr)
			}
			if !goodSt.Up {
				t.Errorf("good target was affected: %+v", goodSt)
			}
			for _, b := range s.Brokers {
				if b.Broker == "1" && b.BytesIn.State != Missing {
					t.Errorf("bad broker bytes_in = %+v, want missing", b.BytesIn)
				}
			}
		})
	}
}

func TestNaNAndInfAreDropped(t *testing.T) {
	page := []byte("kafka_server_brokertopicmetrics_bytesin_total NaN\n" +
		"kafka_server_brokertopicmetrics_bytesin_total{topic=\"orders\"} +Inf\n" +
		"kafka_server_brokertopicmetrics_bytesout_total{topic=\"orders\"} 5\n" +
		"kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent -Inf\n")
	pts, samples, dropped, err := MapPage(kafkaJMX, Page{Body: page})
	if err != nil {
		t.Fatal(err)
	}
	if samples != 4 || dropped != 3 || len(pts) != 1 || pts[0].Name != "orders" || pts[0].Value != 5 {
		t.Errorf("samples=%d dropped=%d points=%+v", samples, dropped, pts)
	}
}

func TestRaterResetsAndGaps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	key := PointKey{Kind: KindBrokerBytes, Dir: config.Produce}
	cases := []struct {
		name      string
		prev, cur float64
		dt        time.Duration
		want      float64
		state     State
	}{
		{"steady", 100, 250, 15 * time.Second, 10, Fresh},
		{"reset (out-of-order counter)", 1000, 30, 15 * time.Second, 2, Fresh},
		{"gap longer than max", 100, 250, 46 * time.Second, 0, Pending},
		{"same timestamp", 100, 250, 0, 0, Pending},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRater(45 * time.Second)
			first := r.Rate(nil, "t", []Point{{key, tc.prev, true}}, t0)
			if first[0].State != Pending {
				t.Fatalf("first sight = %+v, want pending", first[0])
			}
			got := r.Rate(nil, "t", []Point{{key, tc.cur, true}}, t0.Add(tc.dt))
			if got[0].State != tc.state || !near(got[0].Value, tc.want) {
				t.Errorf("rate = %+v, want %v %s", got[0], tc.want, tc.state)
			}
		})
	}
	r := NewRater(time.Minute)
	r.Rate(nil, "t", []Point{{key, 1, true}}, t0)
	r.Forget(t0.Add(time.Second))
	if r.Series() != 0 {
		t.Errorf("series after Forget = %d", r.Series())
	}
}

func TestStaleThenMissing(t *testing.T) {
	page := readFixture(t, jmxFixture)
	srv := newPageServer(t, page)
	var fail bool
	srvMu := make(chan struct{}, 1)
	srvMu <- struct{}{}
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-srvMu
		f := fail
		srvMu <- struct{}{}
		if f {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	c := newTestCollector(t, clk)
	targets := []Target{{URL: flaky.URL + "/metrics", Profile: "kafka-jmx", BrokerID: "1"}}
	c.Round(context.Background(), targets)
	srv.set(bumpPage(t, page, map[string]float64{"kafka_server_brokertopicmetrics_bytesin_total": 150}))
	clk.Advance(15 * time.Second)
	s := c.Round(context.Background(), targets)
	wantValue(t, "fresh bytes_in", s.Brokers[0].BytesIn, 10, Fresh)

	<-srvMu
	fail = true
	srvMu <- struct{}{}
	clk.Advance(15 * time.Second)
	s = c.Round(context.Background(), targets)
	if s.Targets[0].Up || s.Targets[0].Stale {
		t.Errorf("status after one failure = %+v, want down but not stale", s.Targets[0])
	}
	wantValue(t, "stale bytes_in", s.Brokers[0].BytesIn, 10, Stale)
	if p := findProject(t, s, "proj-a", config.Produce); p.Rate.State != Stale {
		t.Errorf("project rate while down = %+v, want stale", p.Rate)
	}
	clk.Advance(45 * time.Second)
	s = c.Round(context.Background(), targets)
	if !s.Targets[0].Stale {
		t.Errorf("status after stale_after = %+v, want stale", s.Targets[0])
	}
	wantValue(t, "missing bytes_in", s.Brokers[0].BytesIn, 0, Missing)
}

func TestScrapeTimeoutIsolatesTargets(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	good := newPageServer(t, readFixture(t, jmxFixture))
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	cfg := testCollectorConfig()
	cfg.ScrapeTimeout = 200 * 1e6 // 200ms as model.Duration
	c, err := New(Options{Config: cfg, Projects: testProjects(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Round(context.Background(), []Target{
		{URL: slow.URL + "/metrics", Profile: "kafka-jmx", BrokerID: "1"},
		{URL: good.URL + "/metrics", Profile: "kafka-jmx", BrokerID: "2"},
	})
	up := map[bool]int{}
	for _, st := range s.Targets {
		up[st.Up]++
		if !st.Up && !strings.Contains(st.Error, "deadline") {
			t.Errorf("slow target error = %q, want a deadline", st.Error)
		}
	}
	if up[true] != 1 || up[false] != 1 {
		t.Errorf("targets = %+v", s.Targets)
	}
}

func TestGzipAndOpenMetrics(t *testing.T) {
	om := "# TYPE kafka_server_brokertopicmetrics_bytesin counter\n" +
		"# TYPE kafka_log_size_bytes gauge\n# UNIT kafka_log_size_bytes bytes\nkafka_log_size_bytes 12\n" +
		"kafka_server_brokertopicmetrics_bytesin_total{topic=\"orders x\"} 150 1700000000.5 # {trace_id=\"a b\"} 1 1700000000\n" +
		"kafka_server_brokertopicmetrics_bytesin_total 300 1700000000.5\n" +
		"kafka_server_brokertopicmetrics_bytesin_created 1600000000\n" +
		"# TYPE x info\nx_info{a=\"b\"} 1\n# EOF\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "application/openmetrics-text") {
			t.Errorf("Accept = %q", r.Header.Get("Accept"))
		}
		if r.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding = %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		_, _ = io.WriteString(gz, om)
		_ = gz.Close()
	}))
	defer srv.Close()
	f := Fetcher{Timeout: 5 * time.Second, BodySizeLimit: 1 << 20}
	page, err := f.Fetch(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	pts, _, _, err := MapPage(kafkaJMX, page)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, p := range pts {
		got[p.Kind.String()+"/"+p.Name] = p.Value
	}
	if len(got) != 2 || got["topic_bytes/orders x"] != 150 || got["broker_bytes/"] != 300 {
		t.Errorf("points = %v", got)
	}
}

func TestOwnMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	good := newPageServer(t, readFixture(t, jmxFixture))
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	c, err := New(Options{Config: testCollectorConfig(), Projects: testProjects(), Now: clk.Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	bad := good.URL + "/nothing-listens-here"
	c.fetcher.Client = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.String() == bad {
			return nil, errors.New("connection refused (test double: a refused dial)")
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	c.Round(context.Background(), []Target{{URL: good.URL + "/metrics", Profile: "kafka-jmx"}, {URL: bad, Profile: "kafka-jmx"}})
	if n := testutil.ToFloat64(c.metrics.errors.WithLabelValues(bad)); n != 1 {
		t.Errorf("errors_total{bad} = %v", n)
	}
	if n := testutil.ToFloat64(c.metrics.up.WithLabelValues(good.URL + "/metrics")); n != 1 {
		t.Errorf("up{good} = %v", n)
	}
	if n := testutil.ToFloat64(c.metrics.samples.WithLabelValues(good.URL + "/metrics")); n < 100 {
		t.Errorf("samples{good} = %v", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint own metrics: %v %+v", err, problems)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestLiveNodeExporter(t *testing.T) {
	ne := testpeer.NodeExporter(t)
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	c := newTestCollector(t, clk)
	targets := []Target{{URL: ne.URL + "/metrics", Profile: "node", Host: "self"}}
	first := c.Round(context.Background(), targets)
	if st := first.Targets[0]; !st.Up || st.Samples < 100 {
		t.Fatalf("first scrape = %+v", st)
	}
	h := first.Hosts[0]
	if h.CPUs < 1 || h.CPUBusy.State != Pending || len(h.Filesystems) == 0 {
		t.Errorf("first round host = %+v", h)
	}
	// The clock is injected: the rate interval is what the clock says,
	// whatever time really passed.
	clk.Advance(15 * time.Second)
	s := c.Round(context.Background(), targets)
	h = s.Hosts[0]
	if h.Host != "self" || h.CPUBusy.State != Fresh || h.CPUBusy.Value < 0 || h.CPUBusy.Value > 1 {
		t.Errorf("cpu = %+v", h.CPUBusy)
	}
	for _, v := range []Value{h.NetReceive, h.NetTransmit, h.DiskRead, h.DiskWrite} {
		if v.State == Pending || v.Value < 0 {
			t.Errorf("host value %+v", v)
		}
	}
	var root bool
	for _, f := range h.Filesystems {
		if f.SizeBytes > 0 && f.AvailBytes <= f.SizeBytes {
			root = true
		}
	}
	if !root {
		t.Errorf("no sane filesystem in %+v", h.Filesystems)
	}
}

// A page is parsed whole by Prometheus's parsers: damage anywhere, in a
// mapped family or not, is an error, and an OpenMetrics page must end with
// "# EOF" (a page cut at a line boundary is otherwise well formed).
func TestParseErrors(t *testing.T) {
	const om = "application/openmetrics-text; version=1.0.0"
	good := "# TYPE kafka_server_brokertopicmetrics_bytesin counter\n" +
		"kafka_server_brokertopicmetrics_bytesin_total{topic=\"a\"} 1\n" +
		"# TYPE other gauge\nother{x=\"}\"} 2\n"
	cases := []struct {
		name, page, contentType, wantErr string
	}{
		{"text", good, "", ""},
		{"openmetrics", good + "# EOF\n", om, ""},
		{"openmetrics without # EOF", good, om, "# EOF"},
		{"openmetrics cut after # EOF's line", good + "# EOF", om, ""},
		{"openmetrics content after # EOF", good + "# EOF\nother 3\n", om, "EOF"},
		{"text without the final line feed", strings.TrimSuffix(good, "\n"), "", "truncated"},
		{"NUL byte", good + "other\x00 1\n", "", "NUL byte"},
		{"unterminated label set in an unmapped family", good + "skip{a=\"b 1\n", "", "parse exposition"},
		{"bad value in an unmapped family", good + "skip{a=\"b\"} one\n", "", "parse exposition"},
		{"missing value in an unmapped family", good + "skip{a=\"b\"}\n", "", "parse exposition"},
		{"bad value in a mapped family", "kafka_server_brokertopicmetrics_bytesin_total x\n", "", "parse exposition"},
		{"NaN is a value", good + "skip NaN\n", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pts, _, _, err := MapPage(kafkaJMX, Page{Body: []byte(tc.page), ContentType: tc.contentType})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != 1 || pts[0].Name != "a" || pts[0].Value != 1 {
				t.Errorf("points = %+v, want topic a's bytes in", pts)
			}
		})
	}
}
