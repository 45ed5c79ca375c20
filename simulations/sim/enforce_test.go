package sim

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/headroomhq/headroom/simulations/scenario"
)

const mib = 1 << 20

func kafkaDefaults(t *testing.T, pairs int) *enforcer {
	t.Helper()
	return newEnforcer(&scenario.Enforcement{}, 10*time.Second, pairs)
}

// A client wanting twice its 20MiB/s quota from an empty window, worked by
// hand with Kafka's defaults (11 samples of 1s, 1MiB requests): the
// window admits 220MiB by the end of each step. Steps 0-4 send their
// 40MiB freely (200MiB); step 5 has room for 20MiB and sends it with the
// request that crosses (21MiB), leaving 221MiB in the window: muted
// (221-220)/20 = 0.05s. Steps 6-9 each send one request, which the window
// (10s of time, 221MiB and more) throttles by about a second, and which
// mutes the client for the rest of the step. 225MiB sent, all of it this
// round's demand; the windowed rate is 225MiB/11s. The throttle times:
// step 5's 21 requests cost 21MiB / 20MiB/s = 1.05s between them, and
// each of steps 6-9 one request of 1.05s ((E + 1MiB)/q with E the 20MiB
// the window holds above 10s at the quota): 5.25s over the 25 throttled
// requests, which is what Kafka's throttle-time sensor averages.
func TestEnforcerTwiceTheQuotaFromAnEmptyWindow(t *testing.T) {
	en := kafkaDefaults(t, 1)
	res := en.round(0, 0, 20*mib, 40*mib)
	if !near(res.sent, 225*mib, 1e-12) {
		t.Errorf("sent %v MiB, want 225", res.sent/mib)
	}
	if !near(res.rate, 225.0/11*mib, 1e-12) {
		t.Errorf("windowed rate %v MiB/s, want 225/11", res.rate/mib)
	}
	if !near(res.throttle, 5.25/25, 1e-9) {
		t.Errorf("mean throttle %vs, want 5.25/25", res.throttle)
	}
	// The backlog: 400MiB offered, 225 sent; the buffer holds 32MiB and
	// the rest was dropped.
	if !near(res.dropped, (400-225-32)*mib, 1e-12) || en.backlog[0] != 32*mib {
		t.Errorf("dropped %v MiB, backlog %v MiB; want 143 and 32", res.dropped/mib, en.backlog[0]/mib)
	}
}

// Held at its quota for long, a client that wants twice it is served about
// its quota (within one request per window), reports a small throttle
// time, and loses the rest: the muting Kafka does since KIP-219.
func TestEnforcerMutedClientSendsAboutItsQuota(t *testing.T) {
	en := kafkaDefaults(t, 1)
	const q, d float64 = 20 * mib, 40 * mib
	var sent, served, arrivals float64
	var last pairResult
	for r := range 60 {
		last = en.round(0, r, q, d)
		if r >= 10 {
			sent += last.sent
			served += charged(d, last.sent, 10) * 10
			arrivals += d * 10
		}
	}
	rounds := 50.0
	rate := sent / (rounds * 10)
	// Kafka accepts a request whole and throttles after it, so an
	// unmuted client gets at most one request through per sample above
	// what the window admits.
	if rate < q || rate > q+1*mib {
		t.Errorf("served %v MiB/s at a 20MiB/s quota; want within one request per 1s sample above it", rate/mib)
	}
	if last.throttle <= 0 || last.throttle > 0.2 {
		t.Errorf("throttle time %vs; a muted client reports about request/quota = 0.05s", last.throttle)
	}
	// Throttled: everything the brokers did not accept. The 32MiB that
	// waits in the buffer goes in the next round, in place of as much of
	// that round's demand, so it is throttled once, not once per round.
	lost := 1 - served/arrivals
	if want := 1 - rate/d; math.Abs(lost-want) > 1e-9 {
		t.Errorf("throttled %.4f of demand, want 1 − served rate/demand = %.4f", lost, want)
	}
}

// A quota cut below what the window still remembers throttles the client
// even though its demand is below the new quota.
func TestEnforcerCutBelowTheWindowThrottles(t *testing.T) {
	for _, tt := range []struct {
		name      string
		cut       float64
		throttled bool
	}{
		{"cut below the window", 30 * mib, true},
		{"cut to the window", 50 * mib, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			en := kafkaDefaults(t, 1)
			for r := range 5 {
				en.round(0, r, 100*mib, 50*mib)
			}
			res := en.round(0, 5, tt.cut, 25*mib)
			lost := 25*mib*10 - charged(25*mib, res.sent, 10)*10
			if got := lost > 1; got != tt.throttled {
				t.Errorf("lost %v MiB of 250 after the cut, throttle %vs", lost/mib, res.throttle)
			}
			if tt.throttled && (lost < 100*mib || res.throttle <= 0) {
				// The window holds 500MiB after its oldest sample
				// leaves, 200MiB above 10s at 30MiB/s: the first
				// request is throttled (200+1)/30 ≈ 6.7s, in which
				// 167MiB arrive for a 32MiB buffer.
				t.Errorf("lost %v MiB with throttle %vs; want above 100MiB and a throttle", lost/mib, res.throttle)
			}
		})
	}
}

// The closed form and stepping agree, and bytes are conserved: what was
// offered is sent, dropped or still waiting.
func TestEnforcerFastPathAgreesAndConserves(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 50 {
		fast, slow := kafkaDefaults(t, 1), kafkaDefaults(t, 1)
		slow.noFast = true
		var offered, sent, dropped float64
		q := (1 + 50*rng.Float64()) * mib
		for r := range 40 {
			if rng.IntN(4) == 0 {
				q = (1 + 50*rng.Float64()) * mib
			}
			d := q * 2 * rng.Float64()
			a, b := fast.round(0, r, q, d), slow.round(0, r, q, d)
			if !near(a.sent, b.sent, 1e-9) || !near(a.rate, b.rate, 1e-9) || !near(a.throttle, b.throttle, 1e-9) {
				t.Fatalf("instance %d round %d: closed form %+v, stepped %+v", n, r, a, b)
			}
			offered += d * 10
			sent += a.sent
			dropped += a.dropped
		}
		if !near(offered, sent+dropped+fast.backlog[0], 1e-9) {
			t.Fatalf("instance %d: offered %v, sent %v + dropped %v + waiting %v", n, offered, sent, dropped, fast.backlog[0])
		}
	}
}

// With no buffer the client drops what it cannot send at once.
func TestEnforcerNoBuffer(t *testing.T) {
	var zero scenario.Bytes
	en := newEnforcer(&scenario.Enforcement{ClientBuffer: &zero}, 10*time.Second, 1)
	for r := range 20 {
		res := en.round(0, r, 20*mib, 40*mib)
		if en.backlog[0] != 0 {
			t.Fatalf("round %d: backlog %v with no buffer", r, en.backlog[0])
		}
		if res.sent > 40*mib*10*(1+1e-12) {
			t.Fatalf("round %d: sent %v MiB of the 400 offered: nothing can be carried without a buffer", r, res.sent/mib)
		}
	}
}

// The throttled bytes a round is charged depend on what the brokers
// accepted, not on how the quota moved or on the round's length: a client
// held at quotas of the same mean, steady or moving a few percent every
// round, sends the same bytes and is charged the same, and so is one
// judged in rounds of 5s or 20s. (Charged by the bytes of each round's
// demand sent within it, the moving quota looked better by up to one
// point of demand and the 5s rounds worse: the 32MiB the buffer carries
// into each round counted as late every round.)
func TestChargedDependsOnBytesAcceptedOnly(t *testing.T) {
	const q0, d float64 = 30 * mib, 45 * mib
	lost := func(round time.Duration, jitter float64) float64 {
		en := newEnforcer(&scenario.Enforcement{}, round, 1)
		rng := rand.New(rand.NewPCG(1, 2))
		sec := round.Seconds()
		var served, offered float64
		rounds := int(20000 * time.Second / round)
		for r := range rounds {
			q := q0 * (1 + jitter*(2*rng.Float64()-1))
			res := en.round(0, r, q, d)
			if r >= rounds/10 {
				served += charged(d, res.sent, sec) * sec
				offered += d * sec
			}
		}
		return 1 - served/offered
	}
	steady := lost(10*time.Second, 0)
	// Muted at its quota, the client sends about 30MiB/s of its 45: a
	// third of its demand is throttled.
	if math.Abs(steady-1.0/3) > 0.01 {
		t.Errorf("steady quota: throttled %.4f of demand, want about 1/3", steady)
	}
	for _, tc := range []struct {
		name   string
		round  time.Duration
		jitter float64
	}{
		{"quota moving 5% every round", 10 * time.Second, 0.05},
		{"quota moving 10% every round", 10 * time.Second, 0.1},
		{"5s rounds", 5 * time.Second, 0},
		{"20s rounds", 20 * time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lost(tc.round, tc.jitter); math.Abs(got-steady) > 0.002 {
				t.Errorf("throttled %.4f of demand, steady 10s rounds %.4f: want within 0.2 points", got, steady)
			}
		})
	}
}
