package lab

import (
	"testing"

	"github.com/headroomhq/headroom/config"
)

// mirrorTopic is a topic no project owns, led by broker 1 only.
const mirrorTopic = "mirror.replica"

// mirrorTraffic produces records to mirrorTopic as client id "mirror" and
// consumes them back under the same client id; it returns the record
// batches written and read, as on the wire.
func mirrorTraffic(t *testing.T, c *Cluster, records int) *batchBytes {
	t.Helper()
	hooks := &batchBytes{produced: map[string]float64{}, fetched: map[string]float64{}}
	roundTrip(t, c, hooks, "mirror", mirrorTopic, records)
	return hooks
}

// TestUnquotedClientsAreMeasured: once a quota of a type is in force,
// Kafka keeps a byte-rate sensor for every client, including one no quota
// applies to, tagged after the kinds of entity the quotas are on; the lab
// must export it (the collector reads exempt entities' bytes from it) and
// never throttle that client. Without any quota of the type, Kafka records
// nothing.
func TestUnquotedClientsAreMeasured(t *testing.T) {
	s := func(v string) *string { return &v }
	unlimited := float64(1 << 30)
	for _, tc := range []struct {
		name   string
		quotas []kadmEntry
		// tags of the mirror's sensor per direction; nil: none expected
		produce, fetch *sensorTags
	}{
		{name: "no quota set", quotas: nil},
		{name: "client-id quotas",
			quotas: []kadmEntry{{Entity: kadmEntity{{Type: "client-id", Name: s("a")}},
				Ops: []kadmOp{{Key: KeyProducerByteRate, Value: unlimited}, {Key: KeyConsumerByteRate, Value: unlimited}}}},
			produce: &sensorTags{clientID: "mirror"}, fetch: &sensorTags{clientID: "mirror"}},
		{name: "produce quotas only: fetch not recorded",
			quotas:  []kadmEntry{{Entity: kadmEntity{{Type: "client-id", Name: s("a")}}, Ops: []kadmOp{{Key: KeyProducerByteRate, Value: unlimited}}}},
			produce: &sensorTags{clientID: "mirror"}},
		{name: "user quotas",
			quotas:  []kadmEntry{{Entity: kadmEntity{{Type: "user", Name: s("alice")}}, Ops: []kadmOp{{Key: KeyProducerByteRate, Value: unlimited}}}},
			produce: &sensorTags{user: AnonymousUser}},
		{name: "user+client-id quotas",
			quotas: []kadmEntry{{Entity: kadmEntity{{Type: "user", Name: s("alice")}, {Type: "client-id", Name: s("a")}},
				Ops: []kadmOp{{Key: KeyProducerByteRate, Value: unlimited}}}},
			produce: &sensorTags{user: AnonymousUser, clientID: "mirror"}},
		{name: "a mix of kinds",
			quotas: []kadmEntry{
				{Entity: kadmEntity{{Type: "user", Name: s("alice")}}, Ops: []kadmOp{{Key: KeyProducerByteRate, Value: unlimited}}},
				{Entity: kadmEntity{{Type: "client-id", Name: s("a")}}, Ops: []kadmOp{{Key: KeyProducerByteRate, Value: unlimited}}},
			},
			produce: &sensorTags{clientID: "mirror"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startLab(t, Config{Brokers: 2, Projects: []Project{{Name: "a", Leaders: []int32{0}}}})
			if err := c.CreateTopic(t.Context(), mirrorTopic, []int32{1}); err != nil {
				t.Fatal(err)
			}
			if len(tc.quotas) > 0 {
				res, err := adminClient(t, c).AlterClientQuotas(t.Context(), tc.quotas)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range res {
					if r.Err != nil {
						t.Fatalf("alter %v: %v", r.Entity, r.Err)
					}
				}
			}
			hooks := mirrorTraffic(t, c, 300)
			for _, d := range []struct {
				dir   config.Direction
				tags  *sensorTags
				bytes float64
			}{{config.Produce, tc.produce, hooks.produced[mirrorTopic]}, {config.Fetch, tc.fetch, hooks.fetched[mirrorTopic]}} {
				for _, b := range c.brokers {
					b.mu.Lock()
					var mirror []sensorKey
					for k := range b.sensors {
						if k.dir == d.dir {
							mirror = append(mirror, k)
						}
					}
					var recorded float64
					if d.tags != nil {
						if s := b.sensors[sensorKey{dir: d.dir, tags: *d.tags}]; s != nil {
							recorded = s.total
						}
					}
					b.mu.Unlock()
					// Only the mirror sends bytes, and only to broker 1.
					switch {
					case d.tags == nil || b.id == 0:
						if len(mirror) > 0 {
							t.Errorf("broker %d %s: sensors %v, want none", b.id, resource(d.dir), mirror)
						}
					case len(mirror) != 1:
						t.Errorf("broker %d %s: sensors %v, want one tagged %+v", b.id, resource(d.dir), mirror, *d.tags)
					case recorded < 0.98*d.bytes || recorded > 1.02*d.bytes:
						t.Errorf("broker %d %s: the mirror's sensor recorded %.0f bytes, the client moved %.0f", b.id, resource(d.dir), recorded, d.bytes)
					}
				}
				if d.tags == nil {
					continue
				}
				labels := map[string]string{"resource": resource(d.dir)}
				if d.tags.user != "" {
					labels["user"] = d.tags.user
				}
				if d.tags.clientID != "" {
					labels["clientId"] = d.tags.clientID
				}
				mfs := scrape(t, c.MetricsURLs()[1])
				if v, ok := value(mfs, "kafka_server_quota_byte_rate", labels); !ok || !(v > 0) {
					t.Errorf("byte-rate %v: %v (present %v), want > 0", labels, v, ok)
				}
				if v, ok := value(mfs, "kafka_server_quota_throttle_time", labels); !ok || v != 0 {
					t.Errorf("throttle-time %v: %v (present %v), want 0: the mirror has no quota", labels, v, ok)
				}
			}
		})
	}
}
