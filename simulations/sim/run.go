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
	exempt    []float64   // this round's exempt traffic per broker, nil for none
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
	rounds := s.Rounds()
	if opt.Rounds > 0 && opt.Rounds < rounds {
		rounds = opt.Rounds
	}
	if rounds < 1 {
		return nil, fmt.Errorf("scenario %s: no rounds to run", s.Name)
	}
	groups := [2]*Group{NewGroup(s, config.Produce), NewGroup(s, config.Fetch)}
	runs, err := newPolicyRuns(s, opt, groups, rounds)
	if err != nil {
		return nil, err
	}
	if err := runBlocks(s, opt, groups, runs, rounds); err != nil {
		return nil, err
	}
	return finish(s, rounds, runs), nil
}

// newPolicyRuns sets up each policy the options name (the default set when
// they name none) in both directions, with a runner per direction and, when
// asked for, the series to plot.
func newPolicyRuns(s *scenario.Scenario, opt Options, groups [2]*Group, rounds int) ([]*policyRun, error) {
	names := opt.Policies
	if len(names) == 0 {
		names = DefaultPolicies()
	}
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
	return runs, nil
}

// runBlocks runs every policy through the scenario's rounds. Demand is
// computed once for a block of rounds; then every policy runs through the
// block on its own goroutine (policies share nothing but the demand, so
// the figures do not depend on the schedule).
func runBlocks(s *scenario.Scenario, opt Options, groups [2]*Group, runs []*policyRun, rounds int) error {
	nproj := len(s.Projects)
	roundSec := s.RoundInterval().Seconds()
	const block = 64
	demand := make([][2][]float64, block)
	for k := range demand {
		demand[k] = [2][]float64{make([]float64, nproj), make([]float64, nproj)}
	}
	// exempt is each round's exempt traffic per broker, nil without any.
	var exempt [][2][]float64
	if len(s.Exempt) > 0 {
		exempt = make([][2][]float64, block)
		for k := range exempt {
			exempt[k] = [2][]float64{make([]float64, s.Brokers.Count), make([]float64, s.Brokers.Count)}
		}
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
				if exempt != nil {
					clear(exempt[k][di])
					s.ExemptLoad(d, r0+k, exempt[k][di])
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
				var ex [][2][]float64
				if exempt != nil {
					ex = exempt[:n]
				}
				errs[x] = pr.rounds(s, groups, r0, demand[:n], ex, roundSec, opt.Now)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
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
	return nil
}

// rounds runs the policy through the rounds r0, r0+1, … with the demand
// of each in demand[k] and its exempt traffic per broker in exempt[k] (nil
// when the scenario has none).
func (pr *policyRun) rounds(s *scenario.Scenario, groups [2]*Group, r0 int, demand, exempt [][2][]float64, roundSec float64, now func() time.Time) error {
	for k := range demand {
		r := r0 + k
		overloaded := false
		violated := false
		for di := range groups {
			var ex []float64
			if exempt != nil {
				ex = exempt[k][di]
			}
			ov, vi, err := pr.step(di, r, demand[k][di], ex, roundSec, now)
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
func (pr *policyRun) step(di, r int, demand, exempt []float64, roundSec float64, now func() time.Time) (overloaded, violated bool, err error) {
	rn := pr.dirs[di]
	clear(rn.load)
	rn.exempt = exempt
	if err := pr.quotasInForce(rn, r, demand, now); err != nil {
		return false, false, err
	}
	for i := range rn.g.Projects {
		vi, err := pr.serve(rn, i, r, demand[i], roundSec)
		if err != nil {
			return false, false, err
		}
		violated = violated || vi
	}
	overloaded = pr.checkBrokers(rn, roundSec)
	if rn.oracle != nil || rn.foresight != nil {
		return overloaded, violated, nil
	}
	if err := pr.plan(rn, r, now); err != nil {
		return false, false, err
	}
	return overloaded, violated, nil
}

// quotasInForce sets the quotas in force for round r: a clairvoyant or
// foresighted policy decides them now from the round's true demand per
// broker; any other policy's plan comes out of the ring once its control
// delay has passed.
func (pr *policyRun) quotasInForce(rn *runner, r int, demand []float64, now func() time.Time) error {
	if rn.oracle == nil && rn.foresight == nil {
		if p := rn.pending[r%len(rn.pending)]; p != nil {
			copy(rn.inForce, p)
			rn.pending[r%len(rn.pending)] = nil
		}
		return nil
	}
	for i, pj := range rn.g.Projects {
		for j, bw := range pj.Placement {
			rn.demandPB[i][j] = demand[i] * bw.Weight
		}
	}
	if ea, ok := rn.policy.(exemptAware); ok && rn.exempt != nil {
		ea.setExempt(rn.exempt)
	}
	start := now()
	var err error
	if rn.oracle != nil {
		err = rn.oracle.Serve(rn.demandPB, rn.servedPB)
	} else {
		err = rn.foresight.Quotas(r, rn.demandPB, rn.inForce)
	}
	if err != nil {
		return err
	}
	pr.planDur += now().Sub(start)
	return nil
}

// serve serves project i's demand d (bytes/s over its placement) in round
// r under its quota in force, records what the brokers report into the
// observation, and adds the project's demand and throttled bytes to the
// figures. It says whether the project is a lender the quota left short.
func (pr *policyRun) serve(rn *runner, i, r int, d, roundSec float64) (violated bool, err error) {
	pj := rn.g.Projects[i]
	q := rn.inForce[i]
	rn.obs.Projects[i].Quota = q
	served, hot, credit, err := rn.serveOnBrokers(i, r, q, d, roundSec)
	if err != nil {
		return false, err
	}
	if rn.oracle != nil {
		// The oracle's quota is what its hottest broker serves.
		q = 0
		for j := range pj.Placement {
			q = max(q, rn.servedPB[i][j])
		}
		rn.obs.Projects[i].Quota = q
		rn.inForce[i] = q
	}
	if rn.oracle != nil || rn.foresight != nil {
		if math.Abs(q-rn.plan[i]) > 1e-9*max(1, q) {
			pr.fig.Writes++
			rn.plan[i] = q
		}
	}
	rn.served[i] = served
	// Served is a sum of per-broker parts; below a relative 1e-9 the
	// difference is rounding, not throttling.
	th := (d - served) * roundSec
	if d-served <= 1e-9*d {
		th = 0
	}
	pr.fig.DemandBytes += d * roundSec
	pr.fig.ThrottledBytes += th
	pr.fig.WindowCreditBytes += credit * roundSec
	pr.demand[i] += d * roundSec
	pr.thrott[i] += th

	// A lender: its demand (on its hottest broker) is within its share,
	// yet its quota is below that demand.
	if hot <= pj.Share && q < hot*(1-1e-6) && hot-q > 1 {
		if rn.violates[i] < 0 {
			rn.violates[i] = r
		}
		return true, nil
	}
	if rn.violates[i] >= 0 {
		pr.endEpisode(r - rn.violates[i])
		rn.violates[i] = -1
	}
	return false, nil
}

// serveOnBrokers serves project i's demand total on each broker of its
// placement under quota q, adds each broker's windowed rate to its load,
// and writes what the brokers report (the rate, with observation noise, and
// the throttle time) into the observation. It returns what was served in
// all, the demand on the project's hottest broker and the part of what was
// served that Kafka's window let through above q (windowCredit).
func (rn *runner) serveOnBrokers(i, r int, q, total, roundSec float64) (served, hot, credit float64, err error) {
	pj := rn.g.Projects[i]
	po := &rn.obs.Projects[i]
	noise := rn.g.observationNoise
	for j, bw := range pj.Placement {
		d := total * bw.Weight
		hot = max(hot, d)
		var s, rate float64
		var th time.Duration
		switch {
		case rn.oracle != nil:
			s = rn.servedPB[i][j]
			if !(s >= 0 && s <= d*(1+1e-9)+1e-9) {
				return 0, 0, 0, fmt.Errorf("oracle served %v of demand %v for %s on broker %d", s, d, pj.Name, bw.Broker)
			}
			rate = s
		case rn.foresight != nil:
			s = min(d, q)
			rate = s
		default:
			// Kafka's enforcement: what the broker accepted in the
			// round, its windowed rate and the throttle time it
			// reported.
			res := rn.en.round(rn.pairOff[i]+j, r, q, d)
			s = charged(d, res.sent, roundSec)
			credit += windowCredit(s, q)
			rate = res.rate
			th = time.Duration(res.throttle * float64(time.Second))
		}
		served += s
		rn.load[bw.Broker] += rate
		// What the broker reports: the windowed rate, with
		// observation noise, and the throttle time.
		f := 1.0
		if noise > 0 {
			f = max(0, 1+noise*rn.noise.next())
		}
		po.Rate[j] = rate * f
		po.Throttle[j] = th
	}
	return served, hot, credit, nil
}

// charged is the rate a round is credited as served on one broker: its
// demand d, up to what the broker accepted from the client in the round
// (sent bytes over roundSec), whether those bytes were this round's or
// waited in the client's buffer from an earlier one. What the client
// could not send is throttled once, in the round it was offered; a byte
// that waited and went later is not charged again. Rates are bytes/s.
//
// The figure depends on what the brokers accepted only: not on the
// round's length, and a quota that moves round to round earns nothing for
// moving. Kafka's window lets a client send above its quota in a round
// after it used less of it; windowCredit is that part of the credited
// rate, which no reference (served min(demand, quota)) can have.
func charged(d, sent, roundSec float64) float64 { return min(d, sent/roundSec) }

// windowCredit is the part of a credited rate above the quota q in force.
func windowCredit(served, q float64) float64 { return max(0, served-q) }

// checkBrokers adds the round's overload (served above safe capacity, past
// what Kafka's request granularity lets clients exceed their quotas by) to
// the figures and says whether any broker was overloaded. It also counts
// the round as unsafe when the quotas in force on a broker sum to more than
// its safe capacity (strict safety).
func (pr *policyRun) checkBrokers(rn *runner, roundSec float64) (overloaded bool) {
	g := rn.g
	// Exempt traffic is never throttled: all of it loads its brokers.
	for b, x := range rn.exempt {
		rn.load[b] += x
	}
	for b, l := range rn.load {
		if l > g.SafeCapacity*(1+1e-9)+rn.slack[b] {
			overloaded = true
			pr.fig.OverloadBytes += (l - g.SafeCapacity) * roundSec
		}
	}
	clear(rn.quotaSum)
	for i, pj := range g.Projects {
		for _, bw := range pj.Placement {
			rn.quotaSum[bw.Broker] += rn.inForce[i]
		}
	}
	for b, x := range rn.exempt {
		rn.quotaSum[b] += x
	}
	for _, qs := range rn.quotaSum {
		if qs > g.SafeCapacity*(1+1e-9) {
			rn.unsafe++
			break
		}
	}
	return overloaded
}

// plan asks the policy for its next plan from round r's observation, checks
// it, counts its writes, and puts it in the ring to take force after the
// control delay.
func (pr *policyRun) plan(rn *runner, r int, now func() time.Time) error {
	rn.obs.Round = r
	rn.reportExempt()
	// A plan waits ControlDelay rounds in the ring; one more buffer than
	// that is enough to never overwrite a waiting or current plan.
	next := rn.buffers[rn.nextBuf]
	rn.nextBuf = (rn.nextBuf + 1) % len(rn.buffers)
	copy(next, rn.plan)
	start := now()
	if err := rn.policy.Plan(&rn.obs, next); err != nil {
		return err
	}
	pr.planDur += now().Sub(start)
	var errs []error
	for i, q := range next {
		if !(q > 0) || math.IsInf(q, 0) {
			errs = append(errs, fmt.Errorf("quota %v for project %s: must be finite and above zero", q, rn.g.Projects[i].Name))
			continue
		}
		if math.Abs(q-rn.plan[i]) > 1e-9*max(1, q) {
			pr.fig.Writes++
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	rn.plan = next
	rn.pending[r%len(rn.pending)] = next
	return nil
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

// reportExempt puts the round's exempt traffic into the observation as the
// brokers report it: with observation noise, as a project's rate.
func (rn *runner) reportExempt() {
	if rn.exempt == nil {
		return
	}
	rn.obs.Exempt = append(rn.obs.Exempt[:0], rn.exempt...)
	if noise := rn.g.observationNoise; noise > 0 {
		for b := range rn.obs.Exempt {
			rn.obs.Exempt[b] *= max(0, 1+noise*rn.noise.next())
		}
	}
}
