package lab

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/headroomhq/headroom/internal/testpeer"
)

func labelNames(m *dto.Metric) string {
	var names []string
	for _, l := range m.Label {
		names = append(names, l.GetName())
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// TestMetricsFollowJMXExporterNames checks every family the lab exports
// against the jmx_exporter kafka-2_0_0 fixture: where the fixture has the
// family, the type and every label set the lab uses must appear there too.
func TestMetricsFollowJMXExporterNames(t *testing.T) {
	f, err := os.Open("testdata/kafka_jmx_exporter-1.0.1_rules-jmx_exporter-kafka-2_0_0.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fixture, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("parse fixture: %v", err)
	}
	c := startLab(t, Config{
		Brokers:  2,
		Capacity: Rates{Produce: 8 << 20, Fetch: 16 << 20},
		Projects: []Project{
			{Name: "a", User: "alice", Quota: Rates{Produce: 64 << 20, Fetch: 64 << 20}},
			{Name: "b", Quota: Rates{Fetch: 64 << 20}},
		},
	})
	produceAndConsume(t, c, 200)

	// Families the fixture lacks but jmx_exporter's rules produce for the
	// same MBean type (BrokerTopicMetrics, ReplicaManager).
	extra := map[string]bool{
		"kafka_server_brokertopicmetrics_totalfetchrequests_total": true,
		"kafka_server_replicamanager_leadercount":                  true,
	}
	for id, url := range c.MetricsURLs() {
		mfs := scrape(t, url)
		for name, mf := range mfs {
			if strings.HasPrefix(name, "headroom_lab_") {
				continue // the lab's own accounting, named as such: no MBean to match
			}
			fx, ok := fixture[name]
			if !ok {
				if !extra[name] {
					t.Errorf("broker %d: family %s is not in the jmx_exporter fixture", id, name)
				}
				continue
			}
			if fx.GetType() != mf.GetType() {
				t.Errorf("broker %d: %s has type %s, fixture %s", id, name, mf.GetType(), fx.GetType())
			}
			shapes := map[string]bool{}
			for _, m := range fx.Metric {
				shapes[labelNames(m)] = true
			}
			if strings.HasPrefix(name, "kafka_server_brokertopicmetrics_") {
				shapes[""] = true // every topic meter also exists as the broker total
			}
			for _, m := range mf.Metric {
				if !shapes[labelNames(m)] {
					t.Errorf("broker %d: %s has labels {%s}, fixture has %v", id, name, labelNames(m), shapes)
				}
			}
		}
		for _, want := range []string{
			"kafka_server_brokertopicmetrics_bytesin_total", "kafka_server_brokertopicmetrics_bytesout_total",
			"kafka_server_brokertopicmetrics_messagesin_total", "kafka_server_quota_byte_rate", "kafka_server_quota_throttle_time",
			"kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent", "kafka_network_socketserver_networkprocessoravgidlepercent",
			"kafka_network_requestmetrics_requests_total",
		} {
			if mfs[want] == nil {
				t.Errorf("broker %d: no %s", id, want)
			}
		}
	}
}

func TestQuotaSensorLabelsFollowTheMatchedLevel(t *testing.T) {
	c := startLab(t, Config{Brokers: 1, Projects: []Project{
		{Name: "a", User: "alice"},
		{Name: "b"},
		{Name: "c", User: "carol"},
	}})
	adm := adminClient(t, c)
	s := func(v string) *string { return &v }
	res, err := adm.AlterClientQuotas(t.Context(), []kadmEntry{
		{Entity: kadmEntity{{Type: "user", Name: s("alice")}, {Type: "client-id", Name: s("a")}}, Ops: []kadmOp{{Key: KeyProducerByteRate, Value: 1 << 30}}},
		{Entity: kadmEntity{{Type: "client-id", Name: nil}}, Ops: []kadmOp{{Key: KeyProducerByteRate, Value: 1 << 30}}},
		{Entity: kadmEntity{{Type: "user", Name: s("carol")}}, Ops: []kadmOp{{Key: KeyProducerByteRate, Value: 1 << 30}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("alter %v: %v", r.Entity, r.Err)
		}
	}
	produceAndConsume(t, c, 50)
	mfs := scrape(t, c.MetricsURLs()[0])
	for _, want := range []map[string]string{
		{"resource": "Produce", "user": "alice", "clientId": "a"}, // user+client-id
		{"resource": "Produce", "clientId": "b"},                  // <default> client-id: client tag only
		{"resource": "Produce", "user": "carol"},                  // user: user tag only
	} {
		if v, ok := value(mfs, "kafka_server_quota_byte_rate", want); !ok || v <= 0 {
			t.Errorf("byte-rate %v: got %v (present %v), want > 0", want, v, ok)
		}
	}
}

// TestPromtoolChecksMetrics runs the real promtool over a lab page.
func TestPromtoolChecksMetrics(t *testing.T) {
	c := startLab(t, Config{Brokers: 1, Capacity: Rates{Produce: 1 << 20, Fetch: 1 << 20}, Projects: []Project{{Name: "a", Quota: Rates{Produce: 1 << 30}}}})
	produceAndConsume(t, c, 20)
	resp, err := http.Get(c.MetricsURLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	page := testpeer.WriteFile(t, "metrics.prom", string(body))
	promtool := testpeer.LookPath(t, testpeer.PromtoolBinary)
	out, _ := runWithStdin(t, promtool, page, "check", "metrics")
	// promtool exits non-zero on lint findings. The one finding allowed is
	// the camelCase clientId label, which jmx_exporter's kafka-2_0_0 rules
	// produce on a real broker too (promtool reports the same for the
	// fixture); anything else, including a parse error, fails.
	var findings []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" || strings.HasSuffix(line, "label names should be written in 'snake_case' not 'camelCase'") &&
			(strings.HasPrefix(line, "kafka_server_quota_byte_rate ") || strings.HasPrefix(line, "kafka_server_quota_throttle_time ")) {
			continue
		}
		findings = append(findings, line)
	}
	if len(findings) > 0 {
		t.Errorf("promtool check metrics:\n%s", strings.Join(findings, "\n"))
	}
	if !strings.Contains(out, "kafka_server_quota_byte_rate") {
		t.Errorf("promtool did not see the quota families (output %q)", out)
	}
}

// TestPrometheusScrapesTheLab has a real Prometheus scrape every broker and
// checks that it sees the per-topic byte counters.
func TestPrometheusScrapesTheLab(t *testing.T) {
	t.Parallel()
	c := startLab(t, Config{Brokers: 2, Projects: []Project{{Name: "a", Quota: Rates{Produce: 1 << 30}}}})
	produceAndConsume(t, c, 100)
	var targets []string
	for _, u := range c.MetricsURLs() {
		targets = append(targets, fmt.Sprintf("%q", strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/metrics")))
	}
	sort.Strings(targets)
	prom := testpeer.Prometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s}
scrape_configs:
  - job_name: lab
    static_configs: [{targets: [%s]}]
`, strings.Join(targets, ",")))
	query := prom.URL + `/api/v1/query?query=count(kafka_server_brokertopicmetrics_bytesin_total{topic="a.events"}>0)`
	// A real Prometheus scraping the lab's brokers.
	testpeer.EventuallyNil(t, "Prometheus sees both brokers' a.events bytes", 30*time.Second, func() error {
		resp, err := http.Get(query)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"value":[`) || !strings.Contains(string(b), `,"2"]`) {
			return fmt.Errorf("answer %s", b)
		}
		return nil
	})
}

type (
	kadmEntry  = kadm.AlterClientQuotaEntry
	kadmEntity = kadm.ClientQuotaEntity
	kadmOp     = kadm.AlterClientQuotaOp
)

// runWithStdin runs bin with args and the file at stdinPath as stdin, and
// returns its combined output.
func runWithStdin(t *testing.T, bin, stdinPath string, args ...string) (string, error) {
	t.Helper()
	in, err := os.Open(stdinPath)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	return string(out), err
}
