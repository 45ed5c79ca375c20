package lab

import (
	"sync"
	"time"
)

// direction of a quota.
type direction int

const (
	dirProduce direction = iota
	dirFetch
)

func (d direction) resource() string {
	if d == dirProduce {
		return "Produce"
	}
	return "Fetch"
}

func (d direction) key() string {
	if d == dirProduce {
		return KeyProducerByteRate
	}
	return KeyConsumerByteRate
}

type topicCounters struct {
	bytesIn, bytesOut, messagesIn, produceRequests, fetchRequests float64
	// in and out are the topic's byte rates over the quota window, for
	// Status; nil on the broker total.
	in, out *sampledStat
}

type sensorKey struct {
	dir  direction
	tags sensorTags
}

type requestKey struct {
	name    string
	version int16
}

// sensorIdleExpiry is how long Kafka keeps an idle client's quota sensors.
const sensorIdleExpiry = time.Hour

// brokerState is what one broker measured.
type brokerState struct {
	id int32
	w  Window

	mu       sync.Mutex
	topics   map[string]*topicCounters
	total    topicCounters
	sensors  map[sensorKey]*quotaSensor
	requests map[requestKey]float64
	// in and out are the broker's byte rates over the quota window; they
	// drive the idle gauges.
	in, out *sampledStat
	leaders int
}

func newBrokerState(id int32, w Window, now time.Time) *brokerState {
	return &brokerState{
		id:       id,
		w:        w,
		topics:   map[string]*topicCounters{},
		sensors:  map[sensorKey]*quotaSensor{},
		requests: map[requestKey]float64{},
		in:       newSampledStat(w, now),
		out:      newSampledStat(w, now),
	}
}

func (b *brokerState) topic(name string, now time.Time) *topicCounters {
	tc := b.topics[name]
	if tc == nil {
		tc = &topicCounters{in: newSampledStat(b.w, now), out: newSampledStat(b.w, now)}
		b.topics[name] = tc
	}
	return tc
}

// charge records bytes for project p in direction d at now and returns the
// throttle time. Kafka creates a client's sensor only once a quota of that
// type applies to it; without one nothing is recorded and nothing throttled.
func (c *Cluster) charge(b *brokerState, p *Project, d direction, bytes float64, now time.Time) time.Duration {
	q, ok := c.quotas.resolve(p.User, p.ClientID, d.key())
	if !ok {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := sensorKey{dir: d, tags: q.tags}
	s := b.sensors[k]
	if s == nil {
		s = newQuotaSensor(c.cfg.Window, now)
		b.sensors[k] = s
	}
	return s.recordAndThrottle(bytes, q.bound, now, !c.cfg.DisableEnforcement)
}

func (b *brokerState) expireSensors(now time.Time) {
	for k, s := range b.sensors {
		if now.Sub(s.lastUse) >= sensorIdleExpiry {
			delete(b.sensors, k)
		}
	}
}
