package lab

import (
	"sync"
	"time"

	"github.com/headroomhq/headroom/config"
)

// resource is the label Kafka's quota metrics give the direction.
func resource(d config.Direction) string {
	if d == config.Produce {
		return "Produce"
	}
	return "Fetch"
}

// quotaKey is the client-quota key of the direction.
func quotaKey(d config.Direction) string {
	if d == config.Produce {
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
	dir  config.Direction
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

	mu      sync.Mutex
	topics  map[string]*topicCounters
	total   topicCounters
	sensors map[sensorKey]*quotaSensor
	// accounts is what enforcement did to each entity and project; unlike
	// the sensors they never expire (one per entity the broker served).
	accounts map[accountKey]*Enforcement
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
		accounts: map[accountKey]*Enforcement{},
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

// accountKey is one project's traffic on one quota sensor.
type accountKey struct {
	sensorKey
	project string
}

// Enforcement is what Kafka's quota enforcement did to one entity's traffic
// in one direction, on one broker or summed over brokers, since the lab
// started.
type Enforcement struct {
	// Throttled counts the responses that carried a throttle time, and
	// ThrottleTime sums those times: how long the entity's connections
	// were muted (or, for clients older than KIP-219, its responses held).
	Throttled    int64
	ThrottleTime time.Duration
	// Refused is fetch bytes the broker withheld: a throttled fetch is
	// answered with no records, as Kafka answers it, and the consumer must
	// fetch them again once its connection is unmuted.
	Refused float64
	// Delayed is produce bytes over the quota's allowance in the window:
	// Kafka appends a throttled produce request, and the throttle time is
	// how long the client must stay silent for the window to absorb these
	// bytes, so the traffic behind them is pushed past the window. It is
	// min(request bytes, (windowed rate − quota) × window) per request.
	Delayed float64
}

// Bytes is the throttled bytes: refused plus delayed.
func (e Enforcement) Bytes() float64 { return e.Refused + e.Delayed }

// Add adds o to e.
func (e *Enforcement) Add(o Enforcement) {
	e.Throttled += o.Throttled
	e.ThrottleTime += o.ThrottleTime
	e.Refused += o.Refused
	e.Delayed += o.Delayed
}

// payer is who the lab charges bytes to: a project, through its quota
// entity, for the bytes of its topic; or, for a topic no project owns, the
// client that sent the request (by its client id, as an unauthenticated
// principal).
type payer struct {
	project, user, clientID string
}

func (p *Project) payer() payer { return payer{project: p.Name, user: p.User, clientID: p.ClientID} }

// enforce records bytes charged to p in direction d at now and returns the
// throttle time, as Kafka's client-quota manager does. With no quota of
// that type in force anywhere Kafka records nothing; once one is, every
// client's bytes are recorded in a sensor of its own, and a client no
// quota applies to is never throttled (see quotaTable.unquotedTags). A
// throttled fetch is refused: its bytes are taken back from the sensor
// (Kafka's unrecord) and refused is true; the caller answers it without
// records.
func (c *Cluster) enforce(b *brokerState, p payer, d config.Direction, bytes float64, now time.Time) (throttle time.Duration, refused bool) {
	q, ok := c.quotas.resolve(p.user, p.clientID, quotaKey(d))
	if !ok {
		if tags, on := c.quotas.unquotedTags(p.user, p.clientID, quotaKey(d)); on {
			b.mu.Lock()
			b.sensor(sensorKey{dir: d, tags: tags}, c.cfg.Window, now).record(bytes, now)
			b.mu.Unlock()
		}
		return 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := sensorKey{dir: d, tags: q.tags}
	s := b.sensor(k, c.cfg.Window, now)
	s.record(bytes, now)
	if c.cfg.DisableEnforcement {
		return 0, false
	}
	t, excess := s.throttleFor(q.bound, now)
	if t <= 0 {
		return 0, false
	}
	ak := accountKey{sensorKey: k, project: p.project}
	acc := b.accounts[ak]
	if acc == nil {
		acc = &Enforcement{}
		b.accounts[ak] = acc
	}
	acc.Throttled++
	acc.ThrottleTime += t
	if d == config.Fetch {
		s.unrecord(bytes, now)
		acc.Refused += bytes
		return t, true
	}
	acc.Delayed += min(bytes, excess)
	return t, false
}

// sensor returns the sensor for k, created at now if it does not exist;
// b.mu must be held.
func (b *brokerState) sensor(k sensorKey, w Window, now time.Time) *quotaSensor {
	s := b.sensors[k]
	if s == nil {
		s = newQuotaSensor(w, now)
		b.sensors[k] = s
	}
	return s
}

func (b *brokerState) expireSensors(now time.Time) {
	for k, s := range b.sensors {
		if now.Sub(s.lastUse) >= sensorIdleExpiry {
			delete(b.sensors, k)
		}
	}
}
