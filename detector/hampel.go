package detector

import "math"

// madScale turns a median absolute deviation into a standard deviation for
// normally distributed data.
const madScale = 1.4826

// hampel is a Hampel filter over the last n samples: a sample further than
// k scaled MADs from the window's median is replaced by the median. The
// window is kept both in arrival order (a ring) and sorted, so one step
// costs O(n) with no allocation. A library median (gonum's stat.Quantile)
// would copy and sort the window on every point, and its empirical
// quantile takes the lower middle value of an even window where the
// median here is the mean of the two.
type hampel struct {
	k      float64
	ring   []float64 // arrival order, len n once full
	sorted []float64 // same values, ascending
	next   int       // ring slot the next sample replaces once full
}

func newHampel(n int, k float64) hampel {
	return hampel{k: k, ring: make([]float64, 0, n), sorted: make([]float64, 0, n)}
}

func (h *hampel) reset() {
	h.ring = h.ring[:0]
	h.sorted = h.sorted[:0]
	h.next = 0
}

// push adds x and returns the filtered value and whether x was a spike.
// floor is the smallest spread used, so that a perfectly flat window does
// not make every tiny wiggle a spike.
func (h *hampel) push(x, floor float64) (float64, bool) {
	if len(h.ring) < cap(h.ring) {
		h.ring = append(h.ring, x)
		h.insert(x)
	} else {
		old := h.ring[h.next]
		h.ring[h.next] = x
		h.next++
		if h.next == len(h.ring) {
			h.next = 0
		}
		h.replace(old, x)
	}
	n := len(h.sorted)
	if n < 3 {
		return x, false
	}
	med, mad := h.medianMAD()
	spread := madScale * mad
	if spread < floor {
		spread = floor
	}
	if math.Abs(x-med) > h.k*spread {
		return med, true
	}
	return x, false
}

func (h *hampel) insert(x float64) {
	s := append(h.sorted, x)
	i := len(s) - 1
	for i > 0 && s[i-1] > x {
		s[i] = s[i-1]
		i--
	}
	s[i] = x
	h.sorted = s
}

// replace swaps old for x in the sorted window, shifting only the elements
// between their positions.
func (h *hampel) replace(old, x float64) {
	s := h.sorted
	i := 0
	for i < len(s) && s[i] != old {
		i++
	}
	if i == len(s) { // unreachable: old is always in the window
		i = len(s) - 1
	}
	for i > 0 && s[i-1] > x {
		s[i] = s[i-1]
		i--
	}
	for i < len(s)-1 && s[i+1] < x {
		s[i] = s[i+1]
		i++
	}
	s[i] = x
}

// medianMAD returns the window's median and its median absolute deviation.
// The deviations of the sorted values grow outward from the median, so the
// MAD is found by merging the two sides in O(n).
func (h *hampel) medianMAD() (float64, float64) {
	s := h.sorted
	n := len(s)
	var med float64
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	// Walk outward: l goes left from the lower middle, r right from the
	// upper middle; take the smaller deviation each step.
	r := n / 2
	l := r - 1
	want := n / 2 // index (0-based) of the median deviation (upper for even n)
	var d, prev float64
	for k := 0; k <= want; k++ {
		prev = d
		switch {
		case l < 0:
			d = s[r] - med
			r++
		case r >= n:
			d = med - s[l]
			l--
		case med-s[l] <= s[r]-med:
			d = med - s[l]
			l--
		default:
			d = s[r] - med
			r++
		}
	}
	if n%2 == 0 {
		return med, (prev + d) / 2
	}
	return med, d
}
