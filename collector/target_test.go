package collector

import (
	"testing"

	"github.com/headroomhq/headroom/config"
)

func TestConfigTargets(t *testing.T) {
	c, err := config.LoadFile("../config/testdata/good/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	c.ResourceGroups[0].Brokers[0].HostMetricsURL = "http://127.0.0.1:9100/metrics"
	c.Collector.StaticTargets = []config.StaticTargetConfig{
		{URL: "http://127.0.0.1:9300/metrics", Profile: "redpanda"}, // same as the broker: dropped
		{URL: "http://kminion:8080/metrics", Profile: "kminion"},
	}
	got := ConfigTargets(c)
	want := []Target{
		{URL: "http://127.0.0.1:9300/metrics", Profile: "kafka-jmx", Cluster: "lab", BrokerID: "0"},
		{URL: "http://127.0.0.1:9100/metrics", Profile: "node", Cluster: "lab", BrokerID: "0"},
		{URL: "http://kminion:8080/metrics", Profile: "kminion"},
	}
	if len(got) != len(want) {
		t.Fatalf("targets = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("target %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
