package config

import (
	"testing"
	"time"
)

func TestHADefaults(t *testing.T) {
	c, err := LoadFile("testdata/good/ha.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := HAConfig{
		GroupID: "headroom", Cluster: "lab", ControlTopic: "_headroom_control", StateTopic: "_headroom_state",
		EventsTopic: "_headroom_events", EventsRetention: DefaultHAEventsRetention, TransactionalID: "headroom-fence",
		SessionTimeout: DefaultHASessionTimeout, Lease: DefaultHASessionTimeout / 2,
	}
	if c.HA == nil || *c.HA != want {
		t.Fatalf("ha block %+v, want %+v", c.HA, want)
	}
	if time.Duration(c.HA.Lease) >= time.Duration(c.HA.SessionTimeout) {
		t.Errorf("default lease %s not shorter than the session %s", c.HA.Lease, c.HA.SessionTimeout)
	}
	single, err := LoadFile("testdata/good/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	if single.HA != nil {
		t.Errorf("without the block the process runs alone, got %+v", single.HA)
	}
}
