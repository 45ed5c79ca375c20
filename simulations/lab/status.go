package lab

import (
	"time"

	"github.com/headroomhq/headroom/config"
)

// ProjectStatus is one project's live state on the cluster, as a terminal
// view (headroom demo) shows it. Rates are bytes/s over the quota window.
type ProjectStatus struct {
	Project string
	// Quota is the per-broker quota that applies to the project's entity
	// with Kafka's precedence; 0 means none in that direction.
	Quota Rates
	// Served is what the brokers accepted (produce) and returned (fetch)
	// for the project's topic, summed over brokers.
	Served Rates
	// ProduceThrottle and FetchThrottle are the highest, over brokers, of
	// the mean throttle time of the entity's throttled requests in the
	// window (kafka_server_quota_throttle_time); 0 when not throttled.
	ProduceThrottle, FetchThrottle time.Duration
	// Enforced is what quota enforcement did to the project's traffic
	// since the lab started, summed over brokers.
	Enforced Enforced
	// Brokers holds the same figures per broker, in node order.
	Brokers []ProjectBrokerStatus
}

// Enforced is what quota enforcement did to a project's traffic, per
// direction.
type Enforced struct {
	Produce, Fetch Enforcement
}

// Bytes is the throttled bytes of both directions.
func (e Enforced) Bytes() float64 { return e.Produce.Bytes() + e.Fetch.Bytes() }

// Add adds o to e, direction by direction.
func (e *Enforced) Add(o Enforced) {
	e.Produce.Add(o.Produce)
	e.Fetch.Add(o.Fetch)
}

// enforced sums broker b's accounts of project name; b.mu must be held.
func (b *brokerState) enforced(name string) Enforced {
	var e Enforced
	for k, acc := range b.accounts {
		if k.project != name {
			continue
		}
		if k.dir == config.Produce {
			e.Produce.Add(*acc)
		} else {
			e.Fetch.Add(*acc)
		}
	}
	return e
}

// Enforcement returns, by project name, what quota enforcement did to each
// project's traffic since the lab started, summed over brokers: the
// brokers' own accounting of throttled bytes (refused and delayed) and
// throttle time, independent of what any client saw.
func (c *Cluster) Enforcement() map[string]Enforced {
	out := make(map[string]Enforced, len(c.cfg.Projects))
	for _, p := range c.cfg.Projects {
		var e Enforced
		for _, b := range c.brokers {
			b.mu.Lock()
			e.Add(b.enforced(p.Name))
			b.mu.Unlock()
		}
		out[p.Name] = e
	}
	return out
}

// ProjectBrokerStatus is a project's state on one broker.
type ProjectBrokerStatus struct {
	Broker                         int32
	Served                         Rates
	ProduceThrottle, FetchThrottle time.Duration
	Enforced                       Enforced
}

// Status returns every project's live state, in configuration order. It
// reads what the brokers measured; it is safe to call while load runs.
func (c *Cluster) Status() []ProjectStatus {
	now := c.cfg.Now()
	out := make([]ProjectStatus, 0, len(c.cfg.Projects))
	for i := range c.cfg.Projects {
		p := &c.cfg.Projects[i]
		st := ProjectStatus{Project: p.Name}
		var tags [2]sensorTags
		var limited [2]bool
		for d, dir := range config.Directions {
			if q, ok := c.quotas.resolve(p.User, p.ClientID, quotaKey(dir)); ok {
				tags[d], limited[d] = q.tags, true
				if dir == config.Produce {
					st.Quota.Produce = q.bound
				} else {
					st.Quota.Fetch = q.bound
				}
			}
		}
		for _, b := range c.brokers {
			bs := ProjectBrokerStatus{Broker: b.id}
			b.mu.Lock()
			if tc := b.topics[p.Topic]; tc != nil {
				bs.Served = Rates{Produce: tc.in.rate(now), Fetch: tc.out.rate(now)}
			}
			for d, dir := range config.Directions {
				if !limited[d] {
					continue
				}
				s := b.sensors[sensorKey{dir: dir, tags: tags[d]}]
				if s == nil {
					continue
				}
				ms := time.Duration(s.throttle.avg(now) * float64(time.Millisecond))
				if dir == config.Produce {
					bs.ProduceThrottle = ms
				} else {
					bs.FetchThrottle = ms
				}
			}
			bs.Enforced = b.enforced(p.Name)
			b.mu.Unlock()
			st.Enforced.Add(bs.Enforced)
			st.Served.Produce += bs.Served.Produce
			st.Served.Fetch += bs.Served.Fetch
			st.ProduceThrottle = max(st.ProduceThrottle, bs.ProduceThrottle)
			st.FetchThrottle = max(st.FetchThrottle, bs.FetchThrottle)
			st.Brokers = append(st.Brokers, bs)
		}
		out = append(out, st)
	}
	return out
}

// Demand returns each running generator's current demand by project name,
// bytes/s summed over brokers, evaluated at t.
func (l *Load) Demand(t time.Time) map[string]Rates {
	out := make(map[string]Rates, len(l.gens))
	for _, g := range l.gens {
		out[g.p.Name] = g.demand(t)
	}
	return out
}
