package collector

import (
	"cmp"
	"maps"
	"slices"
	"time"
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

func assembleBroker(s *Snapshot, own *Ownership, prof Profile, d TargetData) {
	key := d.Target.Broker()
	var (
		total, topicSum, unowned map[Direction]*acc
		handler, network, busy   acc
		byProjectClient          = map[string]map[Direction]*acc{}
		byProjectTopic           = map[string]map[Direction]*acc{}
	)
	newDirs := func() map[Direction]*acc { return map[Direction]*acc{Produce: {}, Fetch: {}} }
	total, topicSum, unowned = newDirs(), newDirs(), newDirs()
	for _, name := range own.Projects() {
		byProjectClient[name], byProjectTopic[name] = newDirs(), newDirs()
	}
	shards := 0
	exempt := exemptAcc{}
	for _, p := range d.Points {
		switch p.Kind {
		case KindBrokerBytes:
			total[p.Dir].add(p)
		case KindTopicBytes:
			topicSum[p.Dir].add(p)
			if o := own.TopicOwner(p.Name); o != "" {
				byProjectTopic[o][p.Dir].add(p)
			} else {
				unowned[p.Dir].add(p)
			}
		case KindClientBytes:
			e := Entity{p.User, p.ClientID}
			if o := own.EntityOwner(e); o != "" {
				byProjectClient[o][p.Dir].add(p)
			} else if x := own.ExemptName(key.Cluster, e); x != "" {
				exempt.add(x, p)
			}
		case KindThrottle:
			e := Entity{p.User, p.ClientID}
			s.Throttles = append(s.Throttles, EntityThrottle{BrokerKey: key, Entity: e, Direction: p.Dir,
				Project: own.EntityOwner(e), ThrottleMs: Value{p.Value, p.State}})
		case KindRequestHandlerIdle:
			handler.add(p)
		case KindNetworkProcessorIdle:
			network.add(p)
		case KindReactorBusy:
			busy.add(p)
			shards++
		}
	}
	bs := BrokerStats{BrokerKey: key, Target: d.Target.URL,
		RequestHandlerIdle: handler.value(), NetworkProcessorIdle: network.value()}
	if prof.HasBrokerTotals() {
		bs.BytesIn, bs.BytesOut = total[Produce].value(), total[Fetch].value()
	} else {
		bs.BytesIn, bs.BytesOut = topicSum[Produce].value(), topicSum[Fetch].value()
	}
	if shards > 0 && bs.RequestHandlerIdle.State == Missing {
		v := busy.value()
		if v.State == Fresh || v.State == Stale {
			v.Value = 1 - v.Value/float64(shards)
		}
		bs.RequestHandlerIdle = v
	}
	s.Brokers = append(s.Brokers, bs)

	topicsKnown := topicSum[Produce].n+topicSum[Fetch].n > 0
	for _, name := range own.Projects() {
		for _, dir := range []Direction{Produce, Fetch} {
			pr := ProjectRate{BrokerKey: key, Project: name, Direction: dir}
			if c := byProjectClient[name][dir]; prof.HasClientQuotaMetrics() && c.n > 0 {
				pr.Rate, pr.Source = c.value(), FromClientQuota
			} else {
				pr.Source = FromTopics
				t := byProjectTopic[name][dir]
				switch {
				case t.n > 0:
					pr.Rate = t.value()
				case topicsKnown:
					// The broker reported topics and none is the project's: a true zero.
					pr.Rate = Value{0, topicSum[Produce].value().State}
				default:
					pr.Rate = Value{0, Missing}
				}
			}
			if !d.Status.Up && pr.Rate.State == Fresh {
				pr.Rate.State = Stale
			}
			s.Projects = append(s.Projects, pr)
		}
	}
	for _, dir := range []Direction{Produce, Fetch} {
		if u := unowned[dir]; u.n > 0 {
			s.Unowned = append(s.Unowned, UnownedRate{BrokerKey: key, Direction: dir, Rate: u.value()})
		}
	}
	s.Exempt = exempt.rates(s.Exempt, key, d.Status.Up)
}

// exemptAcc sums the byte rates of each exempt entity on one broker, by
// name and direction.
type exemptAcc map[string]map[Direction]*acc

func (x exemptAcc) add(name string, p RatedPoint) {
	if x[name] == nil {
		x[name] = map[Direction]*acc{}
	}
	if x[name][p.Dir] == nil {
		x[name][p.Dir] = &acc{}
	}
	x[name][p.Dir].add(p)
}

// rates appends one ExemptRate per name and direction seen; a broker that
// is down reports its fresh figures as stale.
func (x exemptAcc) rates(out []ExemptRate, key BrokerKey, up bool) []ExemptRate {
	for _, name := range slices.Sorted(maps.Keys(x)) {
		for _, dir := range []Direction{Produce, Fetch} {
			if a := x[name][dir]; a != nil {
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

func sortSnapshot(s *Snapshot) {
	slices.SortFunc(s.Targets, func(a, b TargetStatus) int { return cmp.Compare(a.Target, b.Target) })
	slices.SortFunc(s.Brokers, func(a, b BrokerStats) int {
		return cmp.Or(cmpKey(a.BrokerKey, b.BrokerKey), cmp.Compare(a.Target, b.Target))
	})
	slices.SortStableFunc(s.Projects, func(a, b ProjectRate) int {
		return cmp.Or(cmpKey(a.BrokerKey, b.BrokerKey), cmp.Compare(a.Project, b.Project), cmp.Compare(a.Direction, b.Direction))
	})
	slices.SortFunc(s.Throttles, func(a, b EntityThrottle) int {
		return cmp.Or(cmpKey(a.BrokerKey, b.BrokerKey), cmp.Compare(a.Entity.User, b.Entity.User),
			cmp.Compare(a.Entity.ClientID, b.Entity.ClientID), cmp.Compare(a.Direction, b.Direction))
	})
	slices.SortFunc(s.Hosts, func(a, b HostStats) int { return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Target, b.Target)) })
	slices.SortFunc(s.Lag, func(a, b PartitionLag) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Target, b.Target))
	})
	slices.SortFunc(s.Unowned, func(a, b UnownedRate) int {
		return cmp.Or(cmpKey(a.BrokerKey, b.BrokerKey), cmp.Compare(a.Direction, b.Direction))
	})
	slices.SortFunc(s.Exempt, func(a, b ExemptRate) int {
		return cmp.Or(cmpKey(a.BrokerKey, b.BrokerKey), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Direction, b.Direction))
	})
}
