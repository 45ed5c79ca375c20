package detector

import "math"

// This file holds the anomaly score: several views ("scales") of the
// one-step surprise, each with a peaks-over-threshold model of its own upper
// tail, so that the score is a tail probability under the series' own
// history rather than a distance in units someone picked.

// tail is a streaming peaks-over-threshold model of one signal's upper
// tail (the approach of Siffer et al., "Anomaly detection in streams with
// extreme value theory", KDD 2017, with moment estimates instead of
// maximum likelihood so that an update is O(1)). The threshold u follows
// the signal's long-run mean plus tailSDs standard deviations; the rate of
// exceedances and the first two moments of the excesses over u give a
// generalised Pareto tail. The tail probability of a value s above u is
//
//	P(S ≥ s) = rate · (1 + γ·(s−u)/σ)^(−1/γ)
//
// with γ clipped to [0, maxShape]: never lighter than exponential (a light
// tail estimated from a few excesses would call the next one impossible),
// never so heavy that the mean excess is infinite.
type tail struct {
	mean, variance float64 // long-run moments of the signal
	rate           float64 // long-run fraction of samples above u
	m1, m2         float64 // long-run moments of the excess over u
	exc            float64 // excesses seen, saturating at the memory
}

// tailSDs is where the tail starts, in standard deviations of the signal
// above its mean. Two puts it near the 97.7th percentile of a Gaussian, in
// the tail of any signal yet with enough exceedances (about one in 40
// samples) for the excess moments to be estimated over a memory of a few
// hundred samples.
const tailSDs = 2

// maxShape bounds the generalised Pareto shape: at 1/2 the excess has a
// finite variance, which the moment estimates need.
const maxShape = 0.5

// nlog returns −ln P(S ≥ s) under the model before s is seen (0 when s is
// not in the tail), then folds s into the model. a is the weight of one
// sample in the long-run moments; n is the number of samples seen
// (n ≥ 1), which bounds the evidence: the exceedance rate is estimated by
// Laplace's rule of succession over min(n, memory) samples, so a signal
// that never left its threshold (a flat line) gives a finite score to its
// first excursion.
func (p *tail) nlog(s, a float64, n float64, memory float64) float64 {
	sd := math.Sqrt(p.variance)
	u := p.mean + tailSDs*sd
	var nl float64
	if y := s - u; y > 0 && n > 1 {
		neff := min(n-1, memory)
		rate := (p.rate*neff + 1) / (neff + 2)
		nl = -math.Log(rate)
		// Moments of the excess, with one prior excess of one standard
		// deviation (an exponential tail of the signal's own scale) so
		// that the first excursions are judged against something.
		prior := max(sd, 1e-12*math.Abs(p.mean)+1e-300)
		w := 1 / (p.exc + 1)
		m1 := p.m1 + w*(prior-p.m1)
		m2 := p.m2 + w*(2*prior*prior-p.m2)
		v := max(m2-m1*m1, 0)
		shape := 0.0
		if v > 0 {
			shape = 0.5 * (1 - m1*m1/v)
		}
		shape = min(max(shape, 0), maxShape)
		scale := m1 * (1 - shape)
		if shape < 1e-6 {
			nl += y / scale
		} else {
			nl += math.Log1p(shape*y/scale) / shape
		}
	}
	// Update: the moments of the signal, then the tail's.
	d := s - p.mean
	p.mean += a * d
	p.variance = (1 - a) * (p.variance + a*d*d)
	over := 0.0
	if y := s - u; y > 0 {
		over = 1
		ae := max(1/(memory*tailRate), 1/(p.exc+1))
		if p.exc == 0 {
			p.m1, p.m2 = y, y*y
		} else {
			p.m1 += ae * (y - p.m1)
			p.m2 += ae * (y*y - p.m2)
		}
		p.exc = min(p.exc+1, memory*tailRate)
	}
	p.rate += a * (over - p.rate)
	return nl
}

// tailRate is the share of samples above the threshold for a Gaussian
// signal (1 − Φ(tailSDs)); it turns the memory in samples into a memory in
// excesses.
const tailRate = 0.0228
