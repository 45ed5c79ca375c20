package collector

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
)

func findBroker(s Snapshot) (BrokerStats, bool) {
	if len(s.Brokers) != 1 {
		return BrokerStats{}, false
	}
	return s.Brokers[0], true
}

func findProject(t *testing.T, s Snapshot, project string, d config.Direction) ProjectRate {
	t.Helper()
	for _, p := range s.Projects {
		if p.Project == project && p.Direction == d {
			return p
		}
	}
	t.Fatalf("no project rate for %s %s in %+v", project, d, s.Projects)
	return ProjectRate{}
}

type projWant struct {
	project string
	dir     config.Direction
	rate    float64
	source  Source
}

type throttleWant struct {
	entity  config.Entity
	dir     config.Direction
	ms      float64
	project string
}

// TestFixturesMapToCanonicalValues scrapes every fixture page twice, 15 s
// apart on an injected clock, with known counter increments in between, and
// checks the canonical snapshot.
func TestFixturesMapToCanonicalValues(t *testing.T) {
	kafkaBump := map[string]float64{
		"kafka_server_brokertopicmetrics_bytesin_total":  150_000, // 10 kB/s per series
		"kafka_server_brokertopicmetrics_bytesout_total": 300_000, // 20 kB/s per series
	}
	confluentBump := map[string]float64{
		"kafka_server_brokertopicmetrics_bytesinpersec":  150_000,
		"kafka_server_brokertopicmetrics_bytesoutpersec": 300_000,
	}
	// Per-client quota gauges (bytes/s, not counters) come straight from the page.
	clientProjects := []projWant{
		{"proj-a", config.Produce, 52428.8, FromClientQuota},
		{"proj-a", config.Fetch, 104857.6, FromClientQuota},
		{"proj-b", config.Produce, 10_000, FromTopics}, // no produce sensor for proj-b: its topic "payments"
		{"proj-b", config.Fetch, 4096, FromClientQuota},
		{"proj-c", config.Produce, 2048, FromClientQuota}, // user-level quota: only the user label
		{"proj-c", config.Fetch, 0, FromTopics},
	}
	kafkaThrottles := []throttleWant{
		{config.Entity{ClientID: "proj-b"}, config.Fetch, 250, "proj-b"},
		{config.Entity{User: "alice", ClientID: "proj-a"}, config.Fetch, 0, "proj-a"},
		{config.Entity{User: "alice", ClientID: "proj-a"}, config.Produce, 12.5, "proj-a"},
		{config.Entity{User: "bob"}, config.Produce, 0, "proj-c"},
	}
	cases := []struct {
		file, profile string
		bump          map[string]float64
		check         func(t *testing.T, s Snapshot)
	}{
		{"kafka_jmx_exporter-1.0.1_rules-jmx_exporter-kafka-2_0_0.prom", "kafka-jmx", kafkaBump, func(t *testing.T, s Snapshot) {
			checkKafkaBroker(t, s, 0.783, 0.93)
			checkProjects(t, s, clientProjects)
			checkThrottles(t, s, kafkaThrottles)
		}},
		{"kafka_jmx_exporter-0.20.0_rules-jmx_exporter-kafka-2_0_0.prom", "kafka-jmx", kafkaBump, func(t *testing.T, s Snapshot) {
			checkKafkaBroker(t, s, 0.783, 0.93)
			checkProjects(t, s, clientProjects)
			checkThrottles(t, s, kafkaThrottles)
		}},
		{"kafka_jmx_exporter-1.0.1_rules-confluent-kafka_broker.prom", "kafka-confluent", confluentBump, func(t *testing.T, s Snapshot) {
			checkKafkaBroker(t, s, 0.87, 0.93)
			checkProjects(t, s, clientProjects)
			checkThrottles(t, s, []throttleWant{
				{config.Entity{ClientID: "proj-b"}, config.Fetch, 250, "proj-b"},
				{config.Entity{User: "alice", ClientID: "proj-a"}, config.Fetch, 0, "proj-a"},
				{config.Entity{User: "alice", ClientID: "proj-a"}, config.Produce, 12.5, "proj-a"},
				{config.Entity{User: "bob"}, config.Produce, 0, "proj-c"},
			})
		}},
		{"kafka_jmx_exporter-1.0.1_rules-strimzi-kafka-metrics.prom", "kafka-strimzi", kafkaBump, func(t *testing.T, s Snapshot) {
			// Strimzi has no per-client metrics: every project comes from topics.
			checkKafkaBroker(t, s, 0.783, 0.93)
			checkProjects(t, s, []projWant{
				{"proj-a", config.Produce, 10_000, FromTopics},
				{"proj-a", config.Fetch, 20_000, FromTopics},
				{"proj-b", config.Produce, 10_000, FromTopics},
				{"proj-b", config.Fetch, 0, FromTopics},
				{"proj-c", config.Produce, 0, FromTopics},
			})
			if len(s.Throttles) != 0 {
				t.Errorf("strimzi throttles = %+v, want none", s.Throttles)
			}
		}},
		{"redpanda_public_metrics_SYNTHETIC.prom", "redpanda", map[string]float64{
			"redpanda_kafka_request_bytes_total":                            150_000,
			"redpanda_kafka_quotas_client_quota_throughput_by_entity":       30_000,
			"redpanda_kafka_quotas_client_quota_throttle_time_ms_by_entity": 150,
			"redpanda_cpu_busy_seconds_total":                               7.5,
		}, func(t *testing.T, s Snapshot) {
			b, ok := findBroker(s)
			if !ok {
				t.Fatalf("brokers = %+v", s.Brokers)
			}
			// No topic-less totals in Redpanda: the total is the topic sum.
			wantValue(t, "bytes_in", b.BytesIn, 10_000, Fresh)
			wantValue(t, "bytes_out", b.BytesOut, 10_000, Fresh)
			wantValue(t, "request_handler_idle (1 - reactor busy)", b.RequestHandlerIdle, 0.5, Fresh)
			wantValue(t, "network_processor_idle", b.NetworkProcessorIdle, 0, Missing)
			checkProjects(t, s, []projWant{
				{"proj-a", config.Produce, 2_000, FromClientQuota},
				{"proj-a", config.Fetch, 10_000, FromTopics},
				{"proj-b", config.Produce, 0, FromTopics},
			})
			checkThrottles(t, s, []throttleWant{{config.Entity{User: "alice", ClientID: "proj-a"}, config.Produce, 10, "proj-a"}})
		}},
		{"node_exporter_1.5.0_debian_live_subset.prom", "node", map[string]float64{
			"node_cpu_seconds_total":            15,
			"node_network_receive_bytes_total":  1500,
			"node_network_transmit_bytes_total": 3000,
			"node_disk_read_bytes_total":        15,
			"node_disk_written_bytes_total":     30,
		}, func(t *testing.T, s Snapshot) {
			if len(s.Hosts) != 1 {
				t.Fatalf("hosts = %+v", s.Hosts)
			}
			h := s.Hosts[0]
			if h.CPUs != 2 {
				t.Errorf("cpus = %d, want 2", h.CPUs)
			}
			// 16 cpu×mode series each at 1 s/s, 2 of them idle.
			wantValue(t, "cpu_busy", h.CPUBusy, 1-2.0/16, Fresh)
			wantValue(t, "net_receive (eth0 only; ifb excluded)", h.NetReceive, 100, Fresh)
			wantValue(t, "net_transmit", h.NetTransmit, 200, Fresh)
			wantValue(t, "disk_read (vda+zram0)", h.DiskRead, 2, Fresh)
			wantValue(t, "disk_write", h.DiskWrite, 4, Fresh)
			if len(h.Filesystems) != 1 || h.Filesystems[0].Mountpoint != "/" ||
				h.Filesystems[0].SizeBytes != 2.70553174016e+11 || h.Filesystems[0].AvailBytes != 7.9391768576e+10 {
				t.Errorf("filesystems = %+v", h.Filesystems)
			}
		}},
		{"node_exporter_e2e_subset.prom", "node", map[string]float64{"node_cpu_seconds_total": 30}, func(t *testing.T, s Snapshot) {
			h := s.Hosts[0]
			if h.CPUs != 8 {
				t.Errorf("cpus = %d, want 8", h.CPUs)
			}
			wantValue(t, "cpu_busy", h.CPUBusy, 1-1.0/8, Fresh) // 8 modes per cpu, one idle
			wantValue(t, "disk_read", h.DiskRead, 0, Fresh)
		}},
		{"kminion_docs_metrics.prom", "kminion", nil, func(t *testing.T, s Snapshot) {
			want := PartitionLag{Group: "bigquery-sink", Topic: "shop-activity", Partition: 10, Lag: Value{147481, Fresh}}
			if len(s.Lag) != 1 || s.Lag[0].Group != want.Group || s.Lag[0].Topic != want.Topic ||
				s.Lag[0].Partition != want.Partition || s.Lag[0].Lag != want.Lag {
				t.Errorf("lag = %+v, want only %+v (the topic sum must not be added again)", s.Lag, want)
			}
		}},
		{"kafka_exporter_v1.3.1_sample.prom", "kafka-exporter", nil, func(t *testing.T, s Snapshot) {
			if len(s.Lag) != 1 || s.Lag[0].Group != "G1" || s.Lag[0].Topic != "songs" || s.Lag[0].Partition != 0 ||
				s.Lag[0].Lag != (Value{0, Fresh}) {
				t.Errorf("lag = %+v", s.Lag)
			}
		}},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.file] = true
	}
	files, err := filepath.Glob("testdata/*.prom")
	if err != nil || len(files) == 0 {
		t.Fatalf("fixture pages: %v %v", files, err)
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("fixture %s has no case in the table", f)
		}
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			page := readFixture(t, tc.file)
			srv := newPageServer(t, page)
			clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			c := newTestCollector(t, clk)
			targets := []Target{{URL: srv.URL + "/metrics", Profile: tc.profile, Cluster: "lab", BrokerID: "1"}}
			first := c.Round(context.Background(), targets)
			if !first.Targets[0].Up {
				t.Fatalf("first round: %s", first.Targets[0].Error)
			}
			srv.set(bumpPage(t, page, tc.bump))
			clk.Advance(15 * time.Second)
			s := c.Round(context.Background(), targets)
			if st := s.Targets[0]; !st.Up || st.Stale || st.Samples == 0 {
				t.Fatalf("second round status = %+v", st)
			}
			tc.check(t, s)
		})
	}
}

func checkKafkaBroker(t *testing.T, s Snapshot, handlerIdle, networkIdle float64) {
	t.Helper()
	b, ok := findBroker(s)
	if !ok {
		t.Fatalf("brokers = %+v", s.Brokers)
	}
	if b.BrokerKey != (BrokerKey{"lab", "1"}) {
		t.Errorf("broker key = %+v", b.BrokerKey)
	}
	// The topic-less total only: 10 kB/s, not total + topics (30 kB/s).
	wantValue(t, "bytes_in", b.BytesIn, 10_000, Fresh)
	wantValue(t, "bytes_out", b.BytesOut, 20_000, Fresh)
	wantValue(t, "request_handler_idle", b.RequestHandlerIdle, handlerIdle, Fresh)
	wantValue(t, "network_processor_idle", b.NetworkProcessorIdle, networkIdle, Fresh)
}

func checkProjects(t *testing.T, s Snapshot, want []projWant) {
	t.Helper()
	for _, w := range want {
		p := findProject(t, s, w.project, w.dir)
		if p.Source != w.source {
			t.Errorf("%s %s source = %s, want %s", w.project, w.dir, p.Source, w.source)
		}
		wantValue(t, w.project+" "+string(w.dir), p.Rate, w.rate, Fresh)
	}
}

func checkThrottles(t *testing.T, s Snapshot, want []throttleWant) {
	t.Helper()
	if len(s.Throttles) != len(want) {
		t.Errorf("throttles = %+v, want %d", s.Throttles, len(want))
	}
	for _, w := range want {
		found := false
		for _, th := range s.Throttles {
			if th.Entity == w.entity && th.Direction == w.dir {
				found = true
				wantValue(t, "throttle "+w.entity.User+"/"+w.entity.ClientID, th.ThrottleMs, w.ms, Fresh)
				if th.Project != w.project {
					t.Errorf("throttle %+v project = %q, want %q", w.entity, th.Project, w.project)
				}
			}
		}
		if !found {
			t.Errorf("no throttle for %+v %s", w.entity, w.dir)
		}
	}
}
