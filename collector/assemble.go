package collector

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/headroomhq/headroom/config"
)

// TargetData is what one target contributed to a round.
type TargetData struct {
	Target Target
	Status TargetStatus
	// Points are this round's rated points; when the scrape failed they
	// are the last good points with State Stale, or nil.
	Points []RatedPoint
}

// worse returns the less trustworthy of two states.
func worse(a, b State) State {
	rank := func(s State) int {
		switch s {
		case Fresh:
			return 0
		case Pending:
			return 1
		case Stale:
			return 2
		}
		return 3
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// acc sums values and keeps the worst state; empty means Missing.
type acc struct {
	v     float64
	state State
	n     int
}

func (a *acc) add(p RatedPoint) {
	if a.n == 0 {
		a.state = p.State
	} else {
		a.state = worse(a.state, p.State)
	}
	a.n++
	if p.State == Fresh || p.State == Stale {
		a.v += p.Value
	}
}

func (a acc) value() Value {
	if a.n == 0 {
		return Value{0, Missing}
	}
	if a.state == Pending || a.state == Missing {
		return Value{0, a.state}
	}
	return Value{a.v, a.state}
}

// Assemble builds the round's Snapshot from every target's data. It is a
// pure function of its inputs.
func Assemble(now time.Time, own *Ownership, data []TargetData) Snapshot {
	s := Snapshot{Time: now}
	for _, d := range data {
		s.Targets = append(s.Targets, d.Status)
		prof, err := ProfileByName(d.Target.Profile)
		if err != nil {
			continue
		}
		switch d.Target.Profile {
		case "node":
			s.Hosts = append(s.Hosts, hostStats(d))
		case "kminion", "kafka-exporter":
			for _, p := range d.Points {
				if p.Kind == KindLag {
					s.Lag = append(s.Lag, PartitionLag{Group: p.Group, Topic: p.Name, Partition: p.Partition,
						Lag: Value{p.Value, p.State}, Target: d.Target.URL})
				}
			}
		default:
			assembleBroker(&s, own, prof, d)
		}
	}
	sortSnapshot(&s)
	return s
}

// assembleBroker adds one broker target's figures to the snapshot: its
// points summed by what they measure, the broker's stats, each project's
// rate in each direction, and the rate of the topics nobody owns.
func assembleBroker(s *Snapshot, own *Ownership, prof Profile, d TargetData) {
	key := d.Target.Broker()
	sums := sumBroker(s, own, key, d.Points)
	s.Brokers = append(s.Brokers, sums.stats(key, prof, d.Target.URL))
	for _, name := range own.Projects() {
		for _, dir := range config.Directions {
			s.Projects = append(s.Projects, sums.projectRate(key, prof, name, dir, d.Status.Up))
		}
	}
	for _, dir := range config.Directions {
		if u := sums.unowned[dir]; u.n > 0 {
			s.Unowned = append(s.Unowned, UnownedRate{BrokerKey: key, Direction: dir, Rate: u.value()})
		}
	}
	s.Exempt = sums.exempt.rates(s.Exempt, key, d.Status.Up)
}

// exemptAcc sums the byte rates of each exempt entity on one broker, by
// name and direction.
type exemptAcc map[string]*[2]acc

func (x exemptAcc) add(name string, p RatedPoint) {
	if x[name] == nil {
		x[name] = &[2]acc{}
	}
	x[name][p.Dir].add(p)
}

// rates appends one ExemptRate per name and direction seen; a broker that
// is down reports its fresh figures as stale.
func (x exemptAcc) rates(out []ExemptRate, key BrokerKey, up bool) []ExemptRate {
	for _, name := range slices.Sorted(maps.Keys(x)) {
		for _, dir := range config.Directions {
			if a := &x[name][dir]; a.n > 0 {
				r := ExemptRate{BrokerKey: key, Name: name, Direction: dir, Rate: a.value()}
				if !up && r.Rate.State == Fresh {
					r.Rate.State = Stale
				}
				out = append(out, r)
			}
		}
	}
	return out
}

// brokerSums are one broker's points summed by what they measure; the
// byte sums are per direction, indexed by config.Direction.
type brokerSums struct {
	total, topicSum, unowned [2]acc
	// byProjectClient and byProjectTopic hold every configured project.
	byProjectClient, byProjectTopic map[string]*[2]acc
	handler, network, busy          acc
	shards                          int
	// exempt sums the cluster's exempt entities' bytes.
	exempt exemptAcc
}

// sumBroker sums one broker's points. Throttle points are not summed: each
// goes to the snapshot as it is, with the project its entity belongs to.
func sumBroker(s *Snapshot, own *Ownership, key BrokerKey, points []RatedPoint) *brokerSums {
	b := &brokerSums{byProjectClient: map[string]*[2]acc{}, byProjectTopic: map[string]*[2]acc{}, exempt: exemptAcc{}}
	for _, name := range own.Projects() {
		b.byProjectClient[name], b.byProjectTopic[name] = &[2]acc{}, &[2]acc{}
	}
	for _, p := range points {
		switch p.Kind {
		case KindBrokerBytes:
			b.total[p.Dir].add(p)
		case KindTopicBytes:
			b.topicSum[p.Dir].add(p)
			if o := own.TopicOwner(p.Name); o != "" {
				b.byProjectTopic[o][p.Dir].add(p)
			} else {
				b.unowned[p.Dir].add(p)
			}
		case KindClientBytes:
			e := config.Entity{User: p.User, ClientID: p.ClientID}
			if o := own.EntityOwner(e); o != "" {
				b.byProjectClient[o][p.Dir].add(p)
			} else if x := own.ExemptName(key.Cluster, e); x != "" {
				b.exempt.add(x, p)
			}
		case KindThrottle:
			e := config.Entity{User: p.User, ClientID: p.ClientID}
			s.Throttles = append(s.Throttles, EntityThrottle{BrokerKey: key, Entity: e, Direction: p.Dir,
				Project: own.EntityOwner(e), ThrottleMs: Value{p.Value, p.State}})
		case KindRequestHandlerIdle:
			b.handler.add(p)
		case KindNetworkProcessorIdle:
			b.network.add(p)
		case KindReactorBusy:
			b.busy.add(p)
			b.shards++
		}
	}
	return b
}

// stats are the broker's own figures: bytes in and out (its totals, or the
// sum of its topics where the profile has no totals) and its idle ratios
// (Redpanda's from its shards' busy time).
func (b *brokerSums) stats(key BrokerKey, prof Profile, url string) BrokerStats {
	bs := BrokerStats{BrokerKey: key, Target: url,
		RequestHandlerIdle: b.handler.value(), NetworkProcessorIdle: b.network.value()}
	if prof.HasBrokerTotals() {
		bs.BytesIn, bs.BytesOut = b.total[config.Produce].value(), b.total[config.Fetch].value()
	} else {
		bs.BytesIn, bs.BytesOut = b.topicSum[config.Produce].value(), b.topicSum[config.Fetch].value()
	}
	if b.shards > 0 && bs.RequestHandlerIdle.State == Missing {
		v := b.busy.value()
		if v.State == Fresh || v.State == Stale {
			v.Value = 1 - v.Value/float64(b.shards)
		}
		bs.RequestHandlerIdle = v
	}
	return bs
}

// projectRate is a project's rate on the broker in one direction: from its
// client-quota metrics where the profile has them and the entity has
// samples, else from its topics. A value of a target that is down is at
// best stale.
func (b *brokerSums) projectRate(key BrokerKey, prof Profile, name string, dir config.Direction, up bool) ProjectRate {
	pr := ProjectRate{BrokerKey: key, Project: name, Direction: dir}
	if c := b.byProjectClient[name][dir]; prof.HasClientQuotaMetrics() && c.n > 0 {
		pr.Rate, pr.Source = c.value(), FromClientQuota
	} else {
		pr.Source = FromTopics
		t := b.byProjectTopic[name][dir]
		switch {
		case t.n > 0:
			pr.Rate = t.value()
		case b.topicSum[config.Produce].n+b.topicSum[config.Fetch].n > 0:
			// The broker reported topics and none is the project's: a true zero.
			pr.Rate = Value{0, b.topicSum[config.Produce].value().State}
		default:
			pr.Rate = Value{0, Missing}
		}
	}
	if !up && pr.Rate.State == Fresh {
		pr.Rate.State = Stale
	}
	return pr
}

func hostStats(d TargetData) HostStats {
	h := HostStats{Host: d.Target.HostName(), Target: d.Target.URL}
	var idle, all, rx, tx, rd, wr acc
	cpus := map[string]bool{}
	fs := map[string]*Filesystem{}
	fsOf := func(m string) *Filesystem {
		if fs[m] == nil {
			fs[m] = &Filesystem{Mountpoint: m}
		}
		return fs[m]
	}
	for _, p := range d.Points {
		switch p.Kind {
		case KindCPUSeconds:
			cpus[p.Name] = true
			all.add(p)
			if p.Sub == "idle" {
				idle.add(p)
			}
		case KindNetBytes:
			if p.Sub == "receive" {
				rx.add(p)
			} else {
				tx.add(p)
			}
		case KindDiskBytes:
			if p.Sub == "read" {
				rd.add(p)
			} else {
				wr.add(p)
			}
		case KindFSSize:
			fsOf(p.Name).SizeBytes = p.Value
		case KindFSAvail:
			fsOf(p.Name).AvailBytes = p.Value
		}
	}
	h.CPUs = len(cpus)
	a, i := all.value(), idle.value()
	h.CPUBusy = Value{0, worse(a.State, i.State)}
	if (h.CPUBusy.State == Fresh || h.CPUBusy.State == Stale) && a.Value > 0 {
		h.CPUBusy.Value = 1 - i.Value/a.Value
	}
	h.NetReceive, h.NetTransmit, h.DiskRead, h.DiskWrite = rx.value(), tx.value(), rd.value(), wr.value()
	for _, f := range fs {
		h.Filesystems = append(h.Filesystems, *f)
	}
	slices.SortFunc(h.Filesystems, func(a, b Filesystem) int { return cmp.Compare(a.Mountpoint, b.Mountpoint) })
	return h
}

func cmpKey(a, b BrokerKey) int {
	return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Broker, b.Broker))
}

// byName orders directions by name, fetch before produce: the order
// snapshots have always listed them in.
func byName(a, b config.Direction) int { return cmp.Compare(a.String(), b.String()) }

func sortSnapshot(s *Snapshot) {
	slices.SortFunc(s.Targets, func(a, b TargetStatus) int { return cmp.Compare(a.Target, b.Target) })
	slices.SortFunc(s.Brokers, func(a, b BrokerStats) int {
		return cmp.Or(cmpKey(a.BrokerKey, b.BrokerKey), cmp.Compare(a.Target, b.Target))
	})
	slices.SortStableFunc(s.Projects, func(a, b ProjectRate) int {
		return cmp.Or(cmpKey(a.BrokerKey, b.BrokerKey), cmp.Compare(a.Project, b.Project), byName(a.Direction, b.Direction))
	})
	slices.SortFunc(s.Throttles, func(a, b EntityThrottle) int {
		return cmp.Or(cmpKey(a.BrokerKey, b.BrokerKey), cmp.Compare(a.Entity.User, b.Entity.User),
			cmp.Compare(a.Entity.ClientID, b.Entity.ClientID), byName(a.Direction, b.Direction))
	})
	slices.SortFunc(s.Hosts, func(a, b HostStats) int { return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Target, b.Target)) })
	slices.SortFunc(s.Lag, func(a, b PartitionLag) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Target, b.Target))
	})
	slices.SortFunc(s.Unowned, func(a, b UnownedRate) int {
		return cmp.Or(cmpKey(a.BrokerKey, b.BrokerKey), byName(a.Direction, b.Direction))
	})
	slices.SortFunc(s.Exempt, func(a, b ExemptRate) int {
		return cmp.Or(cmpKey(a.BrokerKey, b.BrokerKey), cmp.Compare(a.Name, b.Name), byName(a.Direction, b.Direction))
	})
}
