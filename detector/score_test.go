package detector

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The tail model must recover a known tail: for an exponential signal the
// tail probability of s is e^−s at any threshold, and for a generalised
// Pareto signal of shape 1/4 and scale 1 it is (1 + s/4)^−4.
func TestTailRecoversKnownTails(t *testing.T) {
	for _, tt := range []struct {
		name   string
		draw   func(rng *rand.Rand) float64
		survNL func(s float64) float64 // −ln P(S ≥ s), the truth
	}{
		{"exponential", func(rng *rand.Rand) float64 { return rng.ExpFloat64() },
			func(s float64) float64 { return s }},
		{"pareto 1/4", func(rng *rand.Rand) float64 { return 4 * (math.Pow(1-rng.Float64(), -0.25) - 1) },
			func(s float64) float64 { return 4 * math.Log1p(s/4) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 11))
			const memory = 20000
			var p tail
			for n := 1; n <= 200000; n++ {
				p.nlog(tt.draw(rng), max(2/(memory+1.0), 1/float64(n)), float64(n), memory)
			}
			for _, s := range []float64{8, 12, 20} {
				probe := p // nlog updates; judge on a copy
				got, want := probe.nlog(s, 0, 200001, memory), tt.survNL(s)
				if math.Abs(got-want) > 0.15*want {
					t.Errorf("−ln P(S ≥ %v) = %.2f, want %.2f ± 15%%", s, got, want)
				}
			}
		})
	}
}

// scoresOf runs values through a fresh series at one round apart.
func scoresOf(t *testing.T, values []float64) []Result {
	t.Helper()
	return run(newTestSeries(t, Options{}), t0, values)
}

// maxScore is the largest Score in rs[from:to].
func maxScore(rs []Result, from, to int) (float64, int) {
	best, at := 0.0, -1
	for i := from; i < to; i++ {
		if rs[i].Score > best {
			best, at = rs[i].Score, i
		}
	}
	return best, at
}

// poisson draws a Poisson count of mean lambda (Knuth's method; lambda is
// small here).
func poisson(rng *rand.Rand, lambda float64) float64 {
	l, k, p := math.Exp(-lambda), 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// An anomaly must outscore everything the same series did before it: the
// shape of anomaly NAB-like real series have (one wild sample, a permanent
// level shift, a flat line that moves) on backgrounds they have (counts,
// heavy tails, a daily rhythm, a flat line).
func TestAnomalyOutscoresItsBackground(t *testing.T) {
	const n, at = 4000, 3000
	day := float64(24*time.Hour) / float64(round)
	for _, tt := range []struct {
		name string
		gen  func(rng *rand.Rand, i int) float64
	}{
		{"one 10x sample in daily counts", func(rng *rand.Rand, i int) float64 {
			v := poisson(rng, 20*(1+0.5*math.Sin(2*math.Pi*float64(i)/day)))
			if i == at {
				v = 10 * 30
			}
			return v
		}},
		{"one 10x sample in exponential noise", func(rng *rand.Rand, i int) float64 {
			if i == at {
				return 10 * 8 // e^−8: about once in 3000 samples at most
			}
			return rng.ExpFloat64()
		}},
		{"30% level shift", func(rng *rand.Rand, i int) float64 {
			v := 100 * (1 + 0.05*rng.NormFloat64())
			if i >= at {
				v *= 1.3
			}
			return v
		}},
		{"flat line that moves by 1%", func(rng *rand.Rand, i int) float64 {
			if i >= at {
				return 101
			}
			return 100
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(12, 12))
			v := make([]float64, n)
			for i := range v {
				v[i] = tt.gen(rng, i)
			}
			rs := scoresOf(t, v)
			// NAB's probationary period: the first 15% of a series.
			before, bi := maxScore(rs, n*15/100, at)
			after, ai := maxScore(rs, at, at+5)
			if after <= before {
				t.Fatalf("anomaly at %d scored %.3f (at %d), not above the background's %.3f (at %d)", at, after, ai, before, bi)
			}
		})
	}
}

// Noise is not an anomaly: on a week of each kind of noise, no sample
// reaches score 1/2, which stands for the improbability of a 5-sigma
// Gaussian deviation (see the package doc).
func TestNoiseStaysUnderHalfScore(t *testing.T) {
	week := int(7 * 24 * time.Hour / round)
	for _, tt := range []struct {
		name string
		gen  func(rng *rand.Rand) float64
	}{
		{"gaussian", func(rng *rand.Rand) float64 { return 1000 * (1 + 0.05*rng.NormFloat64()) }},
		{"small counts", func(rng *rand.Rand) float64 { return poisson(rng, 3) }},
		{"exponential", func(rng *rand.Rand) float64 { return 1000 * rng.ExpFloat64() }},
		{"laplace", func(rng *rand.Rand) float64 {
			if rng.IntN(2) == 0 {
				return 1000 + 50*rng.ExpFloat64()
			}
			return 1000 - 50*rng.ExpFloat64()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(13, 13))
			v := make([]float64, week)
			for i := range v {
				v[i] = tt.gen(rng)
			}
			rs := scoresOf(t, v)
			if m, at := maxScore(rs, warmup*10, len(rs)); m >= 0.5 {
				t.Fatalf("noise scored %.3f at %d, want under 0.5", m, at)
			}
		})
	}
}
