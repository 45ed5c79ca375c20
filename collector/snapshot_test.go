package collector

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
)

// A snapshot spells directions and entities as it always has: by name, and
// with the entity's parts under user and client_id. Its rates list fetch
// before produce for one project on one broker.
func TestSnapshotWireSpelling(t *testing.T) {
	key := BrokerKey{Cluster: "c", Broker: "1"}
	s := Snapshot{Time: time.Unix(0, 0).UTC(),
		Projects: []ProjectRate{
			{BrokerKey: key, Project: "a", Direction: config.Produce, Rate: Value{1, Fresh}, Source: FromTopics},
			{BrokerKey: key, Project: "a", Direction: config.Fetch, Rate: Value{2, Fresh}, Source: FromTopics},
		},
		Throttles: []EntityThrottle{{BrokerKey: key, Entity: config.Entity{User: "alice", ClientID: "app"},
			Direction: config.Fetch, Project: "a", ThrottleMs: Value{3, Fresh}}},
		Unowned: []UnownedRate{{BrokerKey: key, Direction: config.Produce, Rate: Value{4, Stale}}},
	}
	sortSnapshot(&s)
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"first project rate", s.Projects[0], `{"cluster":"c","broker":"1","project":"a","direction":"fetch","rate":{"value":2,"state":"fresh"},"source":"topics"}`},
		{"second project rate", s.Projects[1], `{"cluster":"c","broker":"1","project":"a","direction":"produce","rate":{"value":1,"state":"fresh"},"source":"topics"}`},
		{"throttle", s.Throttles[0], `{"cluster":"c","broker":"1","entity":{"user":"alice","client_id":"app"},"direction":"fetch","project":"a","throttle_ms":{"value":3,"state":"fresh"}}`},
		{"unowned", s.Unowned[0], `{"cluster":"c","broker":"1","direction":"produce","rate":{"value":4,"state":"stale"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}
