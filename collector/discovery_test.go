package collector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/config"
)

// loadConfig loads a whole configuration from YAML, so that discovery is
// tested from the file an operator writes.
func loadConfig(t *testing.T, yml string) *config.Config {
	t.Helper()
	c, err := config.Load([]byte(yml))
	if err != nil {
		t.Fatalf("load config: %v\n%s", err, yml)
	}
	return c
}

// writeAtomic replaces a file in one rename, so that a watcher never reads
// it half written.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// syncedDiscovery starts d and waits for every mechanism's first answer.
func syncedDiscovery(t *testing.T, d *Discovery) {
	t.Helper()
	t.Cleanup(d.Close)
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := d.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
}

// discoveredRound discovers cfg's targets until they read want (in any
// order, with no errors), then runs one collector round over them.
func discoveredRound(t *testing.T, cfg *config.Config, want []string) Snapshot {
	t.Helper()
	d := NewConfigDiscovery(cfg)
	syncedDiscovery(t, d)
	want = slices.Sorted(slices.Values(want))
	if errs := reloadUntil(t, d, strings.Join(want, "\n"), nil); len(errs) > 0 {
		t.Errorf("errors = %v", errs)
	}
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	coll, err := New(Options{Config: cfg.Collector, Projects: cfg.Projects, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return coll.Round(t.Context(), d.Targets())
}

// targetList renders targets as "url profile cluster/broker host" lines.
func targetList(ts []Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, fmt.Sprintf("%s %s %s/%s %s", t.URL, t.Profile, t.Cluster, t.BrokerID, t.Host))
	}
	return strings.Join(out, "\n")
}

// reloadUntil reloads d on each of its updates until the targets read
// want and the Reload's errors pass ok (nil: any), and returns those
// errors. A file_sd update arrives in several sends, so intermediate
// states are skipped. The bound only stops a broken test; updates, not
// time, drive the loop.
func reloadUntil(t *testing.T, d *Discovery, want string, ok func([]error) bool) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		ch := d.Updated()
		_, errs := d.Reload()
		if got := targetList(d.Targets()); got == want && (ok == nil || ok(errs)) {
			return errs
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("targets never read\n%s\nlast:\n%s\nerrors: %v", want, targetList(d.Targets()), errs)
		}
	}
}

func errorsContain(errs []error, part string) bool {
	return slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), part) })
}

// A resource group's brokers come from Prometheus file_sd files, mapped to
// their broker ids by a relabel rule on a pod label, are scraped, and
// follow the files as they change; a broken file keeps its last targets.
func TestFileSDEndToEnd(t *testing.T) {
	page := readFixture(t, "kafka_jmx_exporter-1.0.1_rules-strimzi-kafka-metrics.prom")
	b0, b1, b2 := newPageServer(t, page), newPageServer(t, page), newPageServer(t, page)
	addr := func(s *pageServer) string { return strings.TrimPrefix(s.URL, "http://") }
	dir := t.TempDir()
	cfg := loadConfig(t, fmt.Sprintf(`
clusters: [{name: prod, bootstrap_servers: ["127.0.0.1:9092"]}]
resource_groups:
  - name: shared
    brokers: [{id: 0}, {id: 1}, {id: 2}]
    capacity: {produce: 10MiB/s, fetch: 20MiB/s}
    discovery:
      brokers:
        # The first read comes before the directory watch is set, so a
        # change made right after it is seen by the next refresh instead.
        file_sd_configs:
          - files: [%q, %q]
            refresh_interval: 1s
        relabel_configs:
          - {source_labels: [role], regex: controller, action: drop}
          - {source_labels: [pod], regex: ".*-([0-9]+)", target_label: broker_id}
projects:
  - {name: alpha, group: shared, entity: {client_id: alpha}, topics: {prefixes: [alpha.]}, produce: {share: 1MiB/s}, fetch: {share: 1MiB/s}}
collector:
  profile: kafka-strimzi
  discovery:
    - static_configs:
        - targets: ["kminion.test:8080"]
          labels: {profile: kminion, cluster: prod}
`, filepath.Join(dir, "*.json"), filepath.Join(dir, "*.yml")))

	brokers := filepath.Join(dir, "brokers.json")
	writeAtomic(t, brokers, fmt.Sprintf(`[
  {"targets": [%q], "labels": {"pod": "prod-kafka-0"}},
  {"targets": [%q], "labels": {"pod": "prod-kafka-1"}},
  {"targets": ["10.9.9.9:9404"], "labels": {"pod": "prod-controller-3", "role": "controller"}},
  {"targets": ["10.9.9.7:9404"], "labels": {"pod": "prod-kafka-7"}}
]`, addr(b0), addr(b1)))

	d := NewConfigDiscovery(cfg)
	syncedDiscovery(t, d)
	first := []string{
		fmt.Sprintf("%s/metrics kafka-strimzi prod/0 ", b0.URL),
		fmt.Sprintf("%s/metrics kafka-strimzi prod/1 ", b1.URL),
		"http://kminion.test:8080/metrics kminion prod/ ",
	}
	slices.Sort(first)
	errs := reloadUntil(t, d, strings.Join(first, "\n"), func(errs []error) bool { return len(errs) > 0 })
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `broker 7 is not listed in resource group "shared"`) ||
		!strings.Contains(errs[0].Error(), "resource_groups[0].discovery.brokers") {
		t.Errorf("errors = %v, want one for broker 7 naming the block", errs)
	}

	// The discovered brokers are scraped as the group's brokers.
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	coll, err := New(Options{Config: cfg.Collector, Projects: cfg.Projects, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var scraped []Target
	for _, tg := range d.Targets() {
		if tg.Profile != config.ProfileKminion { // no kminion is running
			scraped = append(scraped, tg)
		}
	}
	snap := coll.Round(t.Context(), scraped)
	var got []string
	for _, b := range snap.Brokers {
		got = append(got, b.Cluster+"/"+b.Broker+" "+b.Target)
	}
	want := []string{"prod/0 " + b0.URL + "/metrics", "prod/1 " + b1.URL + "/metrics"}
	if !slices.Equal(got, want) {
		t.Errorf("snapshot brokers = %q, want %q", got, want)
	}
	for _, st := range snap.Targets {
		if !st.Up {
			t.Errorf("target %s down: %s", st.Target, st.Error)
		}
	}

	// A broken file is reported and keeps its last good targets.
	writeAtomic(t, brokers, `[{"targets": `)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for reported := false; !reported; {
		ch := d.Updated()
		_, errs := d.Reload()
		reported = errorsContain(errs, "brokers.json")
		if got := targetList(d.Targets()); got != strings.Join(first, "\n") {
			t.Fatalf("a broken file changed the targets to\n%s", got)
		}
		if !reported {
			select {
			case <-ch:
			case <-ctx.Done():
				t.Fatal("the broken file was never reported")
			}
		}
	}

	// A new file and a changed one: broker 2 joins, broker 1 leaves.
	writeAtomic(t, filepath.Join(dir, "more.yml"), fmt.Sprintf("- targets: [%q]\n  labels: {pod: prod-kafka-2}\n", addr(b2)))
	writeAtomic(t, brokers, fmt.Sprintf(`[{"targets": [%q], "labels": {"pod": "prod-kafka-0"}}]`, addr(b0)))
	next := []string{
		fmt.Sprintf("%s/metrics kafka-strimzi prod/0 ", b0.URL),
		fmt.Sprintf("%s/metrics kafka-strimzi prod/2 ", b2.URL),
		"http://kminion.test:8080/metrics kminion prod/ ",
	}
	slices.Sort(next)
	// Only late reports of the broken file may remain: no target problem.
	reloadUntil(t, d, strings.Join(next, "\n"), func(errs []error) bool {
		return !slices.ContainsFunc(errs, func(e error) bool { return !strings.Contains(e.Error(), "Error reading file") })
	})

	// Removed files take their targets with them.
	os.Remove(brokers)
	os.Remove(filepath.Join(dir, "more.yml"))
	reloadUntil(t, d, "http://kminion.test:8080/metrics kminion prod/ ", nil)
}

// Targets that relabelling cannot make into a group's broker are left out
// with a reason; a dropped target is simply absent.
func TestDiscoveredTargetRules(t *testing.T) {
	block := func(role sdRole, rules string) sdBlock {
		c := loadConfig(t, `
clusters: [{name: prod, bootstrap_servers: ["127.0.0.1:9092"]}]
resource_groups:
  - name: shared
    brokers: [{id: 1}]
    capacity: {produce: 10MiB/s, fetch: 20MiB/s}
    discovery:
      brokers:
        static_configs: [{targets: ["x:1"]}]
        relabel_configs: `+rules+`
projects:
  - {name: alpha, group: shared, entity: {client_id: alpha}, topics: {prefixes: [alpha.]}, produce: {share: 1MiB/s}, fetch: {share: 1MiB/s}}
`)
		return sdBlock{path: "p", role: role, cluster: "prod", group: "shared", brokers: map[int32]bool{1: true},
			profile: "kafka-jmx", relabel: c.ResourceGroups[0].Discovery.Brokers.RelabelConfigs}
	}
	setID := `[{target_label: broker_id, replacement: "1"}]`
	cases := []struct {
		name    string
		b       sdBlock
		labels  map[string]string
		want    string // target line, or "" when dropped
		wantErr string
	}{
		{"broker id set", block(roleBroker, setID), map[string]string{"__address__": "k1:7071"},
			"http://k1:7071/metrics kafka-jmx prod/1 ", ""},
		{"scheme, path, params and host", block(roleBroker, `[{target_label: broker_id, replacement: "01"}, {target_label: __scheme__, replacement: https}, {target_label: __metrics_path__, replacement: /m}, {target_label: __param_name, replacement: kafka}, {source_labels: [node], target_label: host}]`),
			map[string]string{"__address__": "k1:7071", "node": "n1"}, "https://k1:7071/m?name=kafka kafka-jmx prod/1 n1", ""},
		{"dropped", block(roleBroker, `[{action: drop, source_labels: [__address__], regex: "k1:.*"}]`),
			map[string]string{"__address__": "k1:7071"}, "", ""},
		{"no broker id", block(roleBroker, `[]`), map[string]string{"__address__": "k1:7071"}, "", "no broker_id label"},
		{"unlisted broker", block(roleHost, `[{target_label: broker_id, replacement: "2"}]`), map[string]string{"__address__": "k1:9100"}, "", "broker 2 is not listed"},
		{"id not a number", block(roleBroker, `[{target_label: broker_id, replacement: "b1"}]`), map[string]string{"__address__": "k1:7071"}, "", `"b1" is not a Kafka node id`},
		{"other cluster", block(roleBroker, `[{target_label: broker_id, replacement: "1"}, {target_label: cluster, replacement: dev}]`), map[string]string{"__address__": "k1:7071"}, "", `cluster label "dev"`},
		{"no port", block(roleBroker, setID), map[string]string{"__address__": "k1"}, "", `address "k1"`},
		{"bad scheme", block(roleBroker, `[{target_label: broker_id, replacement: "1"}, {target_label: __scheme__, replacement: ftp}]`), map[string]string{"__address__": "k1:1"}, "", `scheme "ftp"`},
		{"bad profile", block(roleBroker, `[{target_label: broker_id, replacement: "1"}, {target_label: profile, replacement: jmx}]`), map[string]string{"__address__": "k1:1"}, "", `unknown profile "jmx"`},
		{"no address", block(roleAny, `[{action: labeldrop, regex: __address__}]`), map[string]string{"__address__": "k1:1"}, "", "no __address__"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ls := map[string]string{}
			for k, v := range tc.labels {
				ls[k] = v
			}
			tg, keep, err := tc.b.target(nil, toLabelSet(ls))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if keep {
				got = targetList([]Target{tg})
			}
			if got != tc.want {
				t.Errorf("target = %q, want %q", got, tc.want)
			}
		})
	}
}

// A mechanism that cannot start is an error from Start; the others run.
func TestDiscoveryStartError(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	cfg := loadConfig(t, `
clusters: [{name: prod, bootstrap_servers: ["127.0.0.1:9092"]}]
resource_groups:
  - name: shared
    brokers: [{id: 1}]
    capacity: {produce: 10MiB/s, fetch: 20MiB/s}
    discovery:
      brokers:
        kubernetes_sd_configs: [{role: pod}]
        static_configs: [{targets: ["k1:7071"], labels: {broker_id: "1"}}]
projects:
  - {name: alpha, group: shared, entity: {client_id: alpha}, topics: {prefixes: [alpha.]}, produce: {share: 1MiB/s}, fetch: {share: 1MiB/s}}
`)
	d := NewConfigDiscovery(cfg)
	t.Cleanup(d.Close)
	if err := d.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "resource_groups[0].discovery.brokers: kubernetes") {
		t.Fatalf("Start err = %v, want the kubernetes mechanism's", err)
	}
	reloadUntil(t, d, "http://k1:7071/metrics kafka-jmx prod/1 ", nil)
}

func toLabelSet(m map[string]string) model.LabelSet {
	out := model.LabelSet{}
	for k, v := range m {
		out[model.LabelName(k)] = model.LabelValue(v)
	}
	return out
}

// A Discovery replaced without Close (as the round loop replaces it on a
// configuration reload) stops its mechanisms once it is collected.
func TestDroppedDiscoveryStops(t *testing.T) {
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "a.json"), `[{"targets": ["k:1"]}]`)
	cfg := config.DefaultCollectorConfig()
	c := loadConfig(t, fmt.Sprintf(`
clusters: [{name: prod, bootstrap_servers: ["127.0.0.1:9092"]}]
resource_groups:
  - {name: shared, brokers: [{id: 1, metrics_url: "http://k:7071/metrics"}], capacity: {produce: 10MiB/s, fetch: 20MiB/s}}
projects:
  - {name: alpha, group: shared, entity: {client_id: alpha}, topics: {prefixes: [alpha.]}, produce: {share: 1MiB/s}, fetch: {share: 1MiB/s}}
collector:
  discovery: [{file_sd_configs: [{files: [%q]}]}]
`, filepath.Join(dir, "*.json")))
	cfg.Discovery = c.Collector.Discovery
	before := goleak.IgnoreCurrent()
	func() {
		d := NewDiscovery(cfg)
		if _, errs := d.Reload(); len(errs) > 0 || targetList(d.Targets()) != "http://k:1/metrics kafka-jmx / " {
			t.Fatalf("targets %q, errors %v", targetList(d.Targets()), errs)
		}
	}()
	runtime.GC()
	runtime.GC()
	goleak.VerifyNone(t, before)
}
