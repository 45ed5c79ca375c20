package sim

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/simulations/scenario"
)

// ThrottleWindow is the window Kafka measures quota usage over by default:
// 11 samples of one second (quota.window.num × quota.window.size.seconds);
// a scenario's enforcement block may set another.
const ThrottleWindow = 11 * time.Second

// MinQuota is the smallest quota a baseline writes: Kafka rejects zero.
const MinQuota = 1024.0

// Options controls a run.
type Options struct {
	// Policies to run, by registered name. Empty means every registered
	// policy.
	Policies []string
	// Rounds limits the run to its first Rounds rounds; 0 runs the whole
	// scenario.
	Rounds int
	// SeriesPoints, when above zero, records per-project demand, quota and
	// served rate for the plots, sampled at most SeriesPoints times.
	SeriesPoints int
	// SeriesProjects caps how many projects (the first ones) get series.
	// Default 8.
	SeriesProjects int
	// Progress, when set, is called with the rounds done so far, about a
	// hundred times per run.
	Progress func(done, total int)
	// Now is the clock used to time the policies. Default time.Now. It is
	// called from as many goroutines as Workers.
	Now func() time.Time
	// Headroom configures the headroom policy, e.g. with a daemon's
	// configuration (what-if does). Default DefaultHeadroomConfig().
	Headroom *HeadroomConfig
	// Workers is how many policies run at once. Default GOMAXPROCS.
	Workers int
}

// Foresight is implemented by the references that set one quota per
// project, as Kafka does, knowing the round they decide for: oracle-kafka
// (the round's true demand) and oracle-causal (its demand without the
// noise draw, and the noise's distribution). The simulator calls Quotas
// instead of Plan, for the round itself, and serves min(demand, quota) on
// every broker: the bound is on what quotas can achieve, not on how well a
// client copes with Kafka's window (see the package comment).
type Foresight interface {
	// Quotas receives the true demand of project i on the j-th broker of
	// its placement in demand[i][j] and writes each project's quota for
	// round r into quotas.
	Quotas(r int, demand [][]float64, quotas []float64) error
}

// Clairvoyant is implemented by a policy that sees the true demand of the
// round it decides for and sets what each project is served on each broker
// directly, unconstrained by Kafka's one quota per entity. Only the oracle
// is: its figures are a bound no real policy can beat, not a plan a
// cluster could apply. The simulator calls Serve instead of Plan.
type Clairvoyant interface {
	// Serve receives the true demand of project i on the j-th broker of
	// its placement in demand[i][j] and writes what is served there into
	// served[i][j].
	Serve(demand, served [][]float64) error
}

// runner is one policy in one direction during a run.
type runner struct {
	g         *Group
	policy    Policy
	oracle    Clairvoyant
	foresight Foresight
	en        *enforcer
	pairOff   []int       // index of each project's first pair in en
	quotaSum  []float64   // Σ quotas in force per broker, for strict safety
	slack     []float64   // per broker: what Kafka's request granularity lets its clients exceed their quotas by
	inForce   []float64   // quotas applied this round
	pending   [][]float64 // ring of plans waiting for their round
	buffers   [][]float64 // plan buffers, reused round after round
	nextBuf   int
	plan      []float64 // the last plan returned
	obs       Observation
	noise     *normals
	demandPB  [][]float64 // oracle only
	servedPB  [][]float64 // oracle only
	load      []float64   // served per broker this round
	served    []float64   // served per project this round
	violates  []int       // start round of a running lender violation, -1 if none
	unsafe    int         // rounds in which the quotas in force broke strict safety
}

// policyRun is one policy over both directions.
type policyRun struct {
	name    string
	dirs    [2]*runner
	fig     Figures
	demand  []float64 // per project, bytes, both directions
	thrott  []float64
	planDur time.Duration
	series  *Series
	// Lender shortfall episodes: how many, their summed and longest
	// length in rounds.
	reclaimN, reclaimSum, reclaimMax int
}

func (pr *policyRun) endEpisode(rounds int) {
	pr.reclaimN++
	pr.reclaimSum += rounds
	pr.reclaimMax = max(pr.reclaimMax, rounds)
}

// Run replays the scenario against each policy and returns their figures.
// All policies see the same demand; each gets its own observation noise
// drawn from the scenario's seed, so runs repeat exactly.
func Run(s *scenario.Scenario, opt Options) (*Result, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.SeriesProjects == 0 {
		opt.SeriesProjects = 8
	}
	names := opt.Policies
	if len(names) == 0 {
		names = DefaultPolicies()
	}
	rounds := s.Rounds()
	if opt.Rounds > 0 && opt.Rounds < rounds {
		rounds = opt.Rounds
	}
	if rounds < 1 {
		return nil, fmt.Errorf("scenario %s: no rounds to run", s.Name)
	}
	groups := [2]*Group{NewGroup(s, config.Produce), NewGroup(s, config.Fetch)}
	nproj := len(s.Projects)

	runs := make([]*policyRun, 0, len(names))
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			return nil, fmt.Errorf("policy %q listed twice", name)
		}
		seen[name] = true
		newPolicy, err := lookup(name)
		if err != nil {
			return nil, err
		}
		if name == "headroom" && opt.Headroom != nil {
			hc := *opt.Headroom
			newPolicy = func(g *Group) (Policy, error) { return NewHeadroomPolicy(g, hc) }
		}
		pr := &policyRun{name: name, demand: make([]float64, nproj), thrott: make([]float64, nproj)}
		for di, g := range groups {
			p, err := newPolicy(g)
			if err != nil {
				return nil, fmt.Errorf("policy %s, %s: %w", name, g.Direction, err)
			}
			pr.dirs[di] = newRunner(g, p, s, uint64(di))
		}
		if opt.SeriesPoints > 0 {
			pr.series = newSeries(s, rounds, opt.SeriesPoints, min(opt.SeriesProjects, nproj))
		}
		runs = append(runs, pr)
	}

	roundSec := s.RoundInterval().Seconds()
	// Demand is computed once for a block of rounds; then every policy
	// runs through the block on its own goroutine (policies share nothing
	// but the demand, so the figures do not depend on the schedule).
	const block = 64
	demand := make([][2][]float64, block)
	for k := range demand {
		demand[k] = [2][]float64{make([]float64, nproj), make([]float64, nproj)}
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	sem := make(chan struct{}, workers)
	errs := make([]error, len(runs))
	every := max(1, rounds/100)
	for r0 := 0; r0 < rounds; r0 += block {
		n := min(block, rounds-r0)
		for k := range n {
			for di, d := range config.Directions {
				for i := range nproj {
					demand[k][di][i] = s.Rate(i, d, r0+k)
				}
			}
		}
		var wg sync.WaitGroup
		for x, pr := range runs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				errs[x] = pr.rounds(s, groups, r0, demand[:n], roundSec, opt.Now)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
		if opt.Progress != nil {
			for r := r0; r < r0+n; r++ {
				if r%every == 0 || r == rounds-1 {
					opt.Progress(r+1, rounds)
				}
			}
		}
	}
	return finish(s, rounds, runs), nil
}

// rounds runs the policy through the rounds r0, r0+1, … with the demand
// of each in demand[k].
func (pr *policyRun) rounds(s *scenario.Scenario, groups [2]*Group, r0 int, demand [][2][]float64, roundSec float64, now func() time.Time) error {
	for k := range demand {
		r := r0 + k
		overloaded := false
		violated := false
		for di := range groups {
			ov, vi, err := pr.step(di, r, demand[k][di], roundSec, now)
			if err != nil {
				return fmt.Errorf("scenario %s, policy %s, %s, round %d: %w",
					s.Name, pr.name, groups[di].Direction, r, err)
			}
			overloaded = overloaded || ov
			violated = violated || vi
		}
		if overloaded {
			pr.fig.OverloadRounds++
		}
		if violated {
			pr.fig.LenderViolationRounds++
		}
		if pr.series != nil {
			pr.series.record(r, demand[k][0], pr.dirs[0])
		}
	}
	return nil
}

func newRunner(g *Group, p Policy, s *scenario.Scenario, dir uint64) *runner {
	n := len(g.Projects)
	rn := &runner{
		g:        g,
		policy:   p,
		inForce:  make([]float64, n),
		plan:     make([]float64, n),
		pending:  make([][]float64, s.ControlDelay),
		noise:    newNormals(uint64(s.Seed), dir),
		load:     make([]float64, g.Brokers),
		quotaSum: make([]float64, g.Brokers),
		violates: make([]int, n),
		served:   make([]float64, n),
		pairOff:  make([]int, n+1),
	}
	rn.buffers = make([][]float64, s.ControlDelay+2)
	for k := range rn.buffers {
		rn.buffers[k] = make([]float64, n)
	}
	for i, pj := range g.Projects {
		rn.inForce[i] = pj.Share
		rn.plan[i] = pj.Share
		rn.violates[i] = -1
		rn.pairOff[i+1] = rn.pairOff[i] + len(pj.Placement)
	}
	rn.obs.Projects = make([]ProjectObservation, n)
	for i, pj := range g.Projects {
		rn.obs.Projects[i] = ProjectObservation{
			Rate:     make([]float64, len(pj.Placement)),
			Throttle: make([]time.Duration, len(pj.Placement)),
		}
	}
	c, isOracle := p.(Clairvoyant)
	f, isForesight := p.(Foresight)
	switch {
	case isOracle:
		rn.oracle = c
	case isForesight:
		rn.foresight = f
	default:
		rn.en = newEnforcer(&s.Enforcement, s.RoundInterval(), rn.pairOff[n])
	}
	// A client held to its quota runs at most one request per window
	// above it: Kafka accepts a request whole and throttles after it.
	rn.slack = make([]float64, g.Brokers)
	if rn.en != nil {
		for _, pj := range g.Projects {
			for _, bw := range pj.Placement {
				rn.slack[bw.Broker] += rn.en.request / (float64(rn.en.w) * rn.en.sample)
			}
		}
	}
	if isOracle || isForesight {
		rn.demandPB = make([][]float64, n)
		rn.servedPB = make([][]float64, n)
		for i, pj := range g.Projects {
			rn.demandPB[i] = make([]float64, len(pj.Placement))
			rn.servedPB[i] = make([]float64, len(pj.Placement))
		}
	}
	return rn
}

// step runs one round of one direction for one policy. It reports whether
// a broker was overloaded and whether a lender was short of its demand.
func (pr *policyRun) step(di, r int, demand []float64, roundSec float64, now func() time.Time) (overloaded, violated bool, err error) {
	rn := pr.dirs[di]
	g := rn.g
	clear(rn.load)
	fig := &pr.fig

	if rn.oracle != nil || rn.foresight != nil {
		for i, pj := range g.Projects {
			for j, bw := range pj.Placement {
				rn.demandPB[i][j] = demand[i] * bw.Weight
			}
		}
		start := now()
		if rn.oracle != nil {
			err = rn.oracle.Serve(rn.demandPB, rn.servedPB)
		} else {
			err = rn.foresight.Quotas(r, rn.demandPB, rn.inForce)
		}
		if err != nil {
			return false, false, err
		}
		pr.planDur += now().Sub(start)
	} else if p := rn.pending[r%len(rn.pending)]; p != nil {
		copy(rn.inForce, p)
		rn.pending[r%len(rn.pending)] = nil
	}

	noise := g.observationNoise
	for i, pj := range g.Projects {
		q := rn.inForce[i]
		var served, hot float64
		po := &rn.obs.Projects[i]
		po.Quota = q
		for j, bw := range pj.Placement {
			d := demand[i] * bw.Weight
			hot = max(hot, d)
			var s, sent, rate float64
			var th time.Duration
			switch {
			case rn.oracle != nil:
				s = rn.servedPB[i][j]
				if !(s >= 0 && s <= d*(1+1e-9)+1e-9) {
					return false, false, fmt.Errorf("oracle served %v of demand %v for %s on broker %d", s, d, pj.Name, bw.Broker)
				}
				sent, rate = s, s
			case rn.foresight != nil:
				s = min(d, q)
				sent, rate = s, s
			default:
				// Kafka's enforcement: what the broker accepted in the
				// round, its windowed rate and the throttle time it
				// reported.
				res := rn.en.round(rn.pairOff[i]+j, r, q, d)
				s = res.onTime / roundSec
				sent = res.sent / roundSec
				rate = res.rate
				th = time.Duration(res.throttle * float64(time.Second))
			}
			served += s
			rn.load[bw.Broker] += rate
			_ = sent
			// What the broker reports: the windowed rate, with
			// observation noise, and the throttle time.
			f := 1.0
			if noise > 0 {
				f = max(0, 1+noise*rn.noise.next())
			}
			po.Rate[j] = rate * f
			po.Throttle[j] = th
		}
		if rn.oracle != nil {
			// The oracle's quota is what its hottest broker serves.
			q = 0
			for j := range pj.Placement {
				q = max(q, rn.servedPB[i][j])
			}
			po.Quota = q
			rn.inForce[i] = q
		}
		if rn.oracle != nil || rn.foresight != nil {
			if math.Abs(q-rn.plan[i]) > 1e-9*max(1, q) {
				fig.Writes++
				rn.plan[i] = q
			}
		}
		rn.served[i] = served
		// Served is a sum of per-broker parts; below a relative 1e-9 the
		// difference is rounding, not throttling.
		th := (demand[i] - served) * roundSec
		if demand[i]-served <= 1e-9*demand[i] {
			th = 0
		}
		fig.DemandBytes += demand[i] * roundSec
		fig.ThrottledBytes += th
		pr.demand[i] += demand[i] * roundSec
		pr.thrott[i] += th

		// A lender: its demand (on its hottest broker) is within its
		// share, yet its quota is below that demand.
		if hot <= pj.Share && q < hot*(1-1e-6) && hot-q > 1 {
			violated = true
			if rn.violates[i] < 0 {
				rn.violates[i] = r
			}
		} else if rn.violates[i] >= 0 {
			pr.endEpisode(r - rn.violates[i])
			rn.violates[i] = -1
		}
	}
	for b, l := range rn.load {
		if l > g.SafeCapacity*(1+1e-9)+rn.slack[b] {
			overloaded = true
			fig.OverloadBytes += (l - g.SafeCapacity) * roundSec
		}
	}
	// Strict safety: the quotas in force on each broker sum to at most its
	// safe capacity.
	clear(rn.quotaSum)
	for i, pj := range g.Projects {
		for _, bw := range pj.Placement {
			rn.quotaSum[bw.Broker] += rn.inForce[i]
		}
	}
	for _, qs := range rn.quotaSum {
		if qs > g.SafeCapacity*(1+1e-9) {
			rn.unsafe++
			break
		}
	}
	if rn.oracle != nil || rn.foresight != nil {
		return overloaded, violated, nil
	}

	rn.obs.Round = r
	// A plan waits ControlDelay rounds in the ring; one more buffer than
	// that is enough to never overwrite a waiting or current plan.
	next := rn.buffers[rn.nextBuf]
	rn.nextBuf = (rn.nextBuf + 1) % len(rn.buffers)
	copy(next, rn.plan)
	start := now()
	if err := rn.policy.Plan(&rn.obs, next); err != nil {
		return false, false, err
	}
	pr.planDur += now().Sub(start)
	var errs []error
	for i, q := range next {
		if !(q > 0) || math.IsInf(q, 0) {
			errs = append(errs, fmt.Errorf("quota %v for project %s: must be finite and above zero", q, g.Projects[i].Name))
			continue
		}
		if math.Abs(q-rn.plan[i]) > 1e-9*max(1, q) {
			fig.Writes++
		}
	}
	if len(errs) > 0 {
		return false, false, errors.Join(errs...)
	}
	rn.plan = next
	rn.pending[r%len(rn.pending)] = next
	return overloaded, violated, nil
}

// DefaultPolicies lists every registered policy in report order: static
// first, then the baselines, then the others by name, then the references
// from the tightest to the loosest (oracle-causal, oracle-kafka, oracle).
// Names starting with "test-" are left out.
func DefaultPolicies() []string {
	rank := func(n string) int {
		switch n {
		case "static":
			return 0
		case "doorman-fair":
			return 1
		case "doorman-proportional":
			return 2
		case "pulsar-rg":
			return 3
		case "oracle-causal":
			return 5
		case "oracle-kafka":
			return 6
		case "oracle":
			return 7
		}
		return 4
	}
	var names []string
	for _, n := range Policies() {
		if !strings.HasPrefix(n, "test-") {
			names = append(names, n)
		}
	}
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	return names
}

// NewGroup builds the static view of the scenario's brokers and projects in
// direction d, as a policy is given it.
func NewGroup(s *scenario.Scenario, d config.Direction) *Group {
	cap := float64(s.Brokers.Capacity.Produce)
	if d == config.Fetch {
		cap = float64(s.Brokers.Capacity.Fetch)
	}
	n, sample := s.Enforcement.Window()
	window := time.Duration(n) * sample
	g := &Group{
		Scenario:         s.Name,
		Direction:        d,
		Brokers:          s.Brokers.Count,
		Capacity:         cap,
		SafeCapacity:     s.Brokers.SafeCapacity(d),
		Round:            s.RoundInterval(),
		ThrottleWindow:   window,
		Projects:         make([]Project, len(s.Projects)),
		observationNoise: s.ObservationNoise,
		scen:             s,
	}
	for i := range s.Projects {
		q := s.Projects[i].Quota(d)
		p := Project{
			Name:      s.Projects[i].Name,
			Share:     float64(q.Share),
			Floor:     float64(q.Floor),
			Ceiling:   float64(q.Ceiling),
			Weight:    q.Weight,
			Placement: s.Placement(i),
			Tier:      s.Projects[i].Tier,
		}
		for _, bw := range p.Placement {
			p.Hottest = max(p.Hottest, bw.Weight)
		}
		g.Projects[i] = p
	}
	return g
}
