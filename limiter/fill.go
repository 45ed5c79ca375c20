package limiter

import (
	"math"
	"slices"
)

// fillItem is a project in fill's queue: the level at which it reaches its
// goal.
type fillItem struct {
	level float64
	i     int
}

// fill water-fills a.q towards a.goal for the projects not held, weighted
// max-min, within each broker's slack. A broker whose slack runs out stops
// every project placed on it.
//
// It runs on a common level Λ: an active project's quota is q0 + w·Λ, and a
// broker's slack falls at the rate Σ w·coef of its active projects. Events
// are a project reaching its goal (a queue ordered by the level at which
// each does) and a broker running out (an indexed heap keyed by the level
// at which it does). A broker with room for every goal placed on it never
// stops anyone and stays off the heap; when few brokers or none are on it,
// or the queue is long, the queue is sorted, otherwise it is a heap popped
// only as far as the brokers let projects reach their goals. Each event
// touches only the brokers of the projects it stops, so a fill costs
// O((P·k + B) log B + P log P) for P projects on k brokers each. Nothing
// is allocated once the scratch space has grown.
func (a *allocator) fill(nP, nB int, owner []int) {
	if a.fillImpl != nil {
		a.fillImpl(a, nP, nB, owner)
		return
	}
	queue := a.startFill(nP, nB)
	if len(queue) == 0 {
		return
	}
	// With no broker on the heap every project reaches its goal, in
	// order: the queue is sorted and drained. Where brokers stop most
	// projects first, the queue is a heap popped only as far as needed.
	// Either way the events come in the same order.
	switch {
	case len(a.heap) == 0:
		a.sortQueue(queue)
		a.drain(queue)
	case len(a.heap)*2 <= nB || len(queue) >= radixMin:
		// Few brokers can run out, so most projects reach their goals,
		// or the queue is long enough for the radix sort, which costs
		// less than the heap's pops: the queue is sorted.
		a.sortQueue(queue)
		a.events(queue, owner, true)
	default:
		a.events(queue, owner, false)
	}
	a.endFill(nB)
}

// endFill puts the brokers' slack back where the phases keep it.
func (a *allocator) endFill(nB int) {
	for b := range a.fb[:nB] {
		a.slack[b] = a.fb[b].slack
	}
}

// events runs fill's event loop: the next project to reach its goal (the
// queue) or the next broker to run out (a.heap), whichever comes first.
// The queue is sorted, or else a heap popped only as far as needed.
func (a *allocator) events(queue []fillItem, owner []int, sorted bool) {
	if !sorted {
		for k := len(queue)/2 - 1; k >= 0; k-- {
			siftDown(queue, k)
		}
	}
	fb, active, limitedBy := a.fb, a.active, a.limitedBy
	level, next := 0.0, 0
	for a.live > 0 {
		pLevel := math.Inf(1)
		if sorted {
			for next < len(queue) && !active[queue[next].i] {
				next++
			}
			if next < len(queue) {
				pLevel = queue[next].level
			}
		} else {
			for len(queue) > 0 && !active[queue[0].i] {
				queue = popItem(queue)
			}
			if len(queue) > 0 {
				pLevel = queue[0].level
			}
		}
		bLevel := a.nextBroker()
		if math.IsInf(pLevel, 1) && math.IsInf(bLevel, 1) {
			break
		}
		if pLevel <= bLevel {
			level = max(level, pLevel)
			i := queue[0].i
			if sorted {
				i = queue[next].i
			}
			a.stop(i, level)
			a.q[i] = a.goal[i]
			continue
		}
		level = max(level, bLevel)
		b := a.heapPop()
		fb[b].slack = 0
		fb[b].at = level
		for _, j := range a.members(b) {
			if i := owner[j]; active[i] {
				limitedBy[i] = b
				a.stop(i, level)
			}
		}
		fb[b].slack = 0
	}
}

// drain runs a fill in which no broker runs out: every project reaches its
// goal in the order of the sorted queue, and each stop takes from the
// slack of its brokers what the projects still growing there used since
// the last event. It is the event loop of fill with the broker events
// left out, and does the same arithmetic in the same order.
func (a *allocator) drain(queue []fillItem) {
	active, q, goal, w, pStart := a.active, a.q, a.goal, a.w, a.pStart
	mBroker, mCoef, fb := a.mBroker, a.mCoef, a.fb
	level := 0.0
	for _, it := range queue {
		if math.IsInf(it.level, 1) {
			// A goal reached at no finite level (a weight that
			// underflowed): the project stays where it is, as in fill.
			return
		}
		level = max(level, it.level)
		i := it.i
		active[i] = false
		a.live--
		q[i] = goal[i]
		wi := w[i]
		lo, hi := pStart[i], pStart[i+1]
		coef := mCoef[lo:hi]
		for k, b := range mBroker[lo:hi] {
			f := &fb[b]
			f.slack -= f.rate * (level - f.at)
			f.at = level
			f.nActive--
			if f.nActive == 0 {
				f.rate = 0
				continue
			}
			gone := wi * coef[k]
			f.rate -= gone
			if !(f.rate > 1e-9*gone) {
				f.rate = a.activeRate(b) // as in stop
			}
		}
	}
}

// sortQueue sorts fill's queue by level, then by project index. The levels
// are positive (a goal above the quota, a positive weight), and positive
// numbers' bits order as the numbers do, so a stable radix sort over the
// bits of the items, appended in index order, gives that order for long
// queues (the counts of all eight bytes taken in one pass); a pass over a
// byte every item shares is skipped. Short queues
// take a quicksort, and long ones with a level that is not positive a
// comparison sort.
func (a *allocator) sortQueue(q []fillItem) {
	if len(q) < radixMin {
		sortItems(q)
		return
	}
	for _, it := range q {
		if !(it.level > 0) {
			slices.SortFunc(q, func(x, y fillItem) int {
				if x.before(y) {
					return -1
				}
				return 1 // no two items are equal: their projects differ
			})
			return
		}
	}
	a.queue2 = resize(a.queue2, len(q))
	src, dst := q, a.queue2
	// The eight bytes' counts in one pass over the items.
	if a.counts == nil {
		a.counts = new([8][256]int)
	}
	counts := a.counts
	clear(counts[:])
	for _, it := range src {
		k := math.Float64bits(it.level)
		counts[0][byte(k)]++
		counts[1][byte(k>>8)]++
		counts[2][byte(k>>16)]++
		counts[3][byte(k>>24)]++
		counts[4][byte(k>>32)]++
		counts[5][byte(k>>40)]++
		counts[6][byte(k>>48)]++
		counts[7][byte(k>>56)]++
	}
	first := math.Float64bits(src[0].level)
	for pass := range counts {
		shift := uint(8 * pass)
		count := &counts[pass]
		if count[byte(first>>shift)] == len(src) {
			continue
		}
		pos := 0
		for k := range count {
			pos, count[k] = pos+count[k], pos
		}
		for _, it := range src {
			k := byte(math.Float64bits(it.level) >> shift)
			dst[count[k]] = it
			count[k]++
		}
		src, dst = dst, src
	}
	if &src[0] != &q[0] {
		copy(q, src)
	}
}

// radixMin is the shortest queue sortQueue sorts by radix.
const radixMin = 256

// sortItems sorts a short queue by before: a quicksort on the median of
// three, with an insertion sort for the short runs. No two items are equal
// (their projects differ), so any order-correct sort gives the same order.
func sortItems(q []fillItem) {
	for len(q) > 12 {
		// Median of three to q[0], then partition around it.
		m := len(q) / 2
		l := len(q) - 1
		if q[m].before(q[0]) {
			q[m], q[0] = q[0], q[m]
		}
		if q[l].before(q[m]) {
			q[l], q[m] = q[m], q[l]
			if q[m].before(q[0]) {
				q[m], q[0] = q[0], q[m]
			}
		}
		q[0], q[m] = q[m], q[0]
		p := q[0]
		i, j := 1, l
		for {
			for i <= j && q[i].before(p) {
				i++
			}
			for i <= j && p.before(q[j]) {
				j--
			}
			if i >= j {
				break
			}
			q[i], q[j] = q[j], q[i]
			i++
			j--
		}
		q[0], q[j] = q[j], q[0]
		// Recurse into the shorter side, loop on the longer.
		if j < len(q)-1-j {
			sortItems(q[:j])
			q = q[j+1:]
		} else {
			sortItems(q[j+1:])
			q = q[:j]
		}
	}
	for k := 1; k < len(q); k++ {
		it := q[k]
		j := k
		for j > 0 && it.before(q[j-1]) {
			q[j] = q[j-1]
			j--
		}
		q[j] = it
	}
}

// before orders fill's queue: by level, then by project index.
func (x fillItem) before(y fillItem) bool {
	if x.level != y.level {
		return x.level < y.level
	}
	return x.i < y.i
}

func siftDown(h []fillItem, k int) {
	n := len(h)
	for {
		l := 2*k + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].before(h[l]) {
			m = r
		}
		if !h[m].before(h[k]) {
			return
		}
		h[k], h[m] = h[m], h[k]
		k = m
	}
}

// popItem removes the first item of the heap h.
func popItem(h []fillItem) []fillItem {
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	if last > 0 {
		siftDown(h, 0)
	}
	return h
}

// fillBroker is fill's state of one broker: its slack (a.slack while
// the fill runs), the rate Σ w·coef at which its active projects use it,
// the level at which the slack was last brought up to date, the heap's key
// (a lower bound of the level at which it runs out), what its active
// projects' goals want of it, how many of them there are, and its place in
// the heap (-1 when off it).
type fillBroker struct {
	slack, rate, at, sat, want float64
	nActive, hpos              int
}

// startFill activates every project not held whose goal is above its
// quota, and returns them with the level at which each reaches its goal;
// the brokers they are placed on go on the heap, but for those with room
// for every goal on them.
func (a *allocator) startFill(nP, nB int) []fillItem {
	a.active = growBool(a.active, nP)
	a.q0 = resize(a.q0, nP)
	a.fb = resize(a.fb, nB)
	fb := a.fb[:nB]
	clear(fb)
	a.heap = a.heap[:0]
	queue := a.queue[:0]
	held, goal, q, q0, w, active := a.held[:nP], a.goal[:nP], a.q[:nP], a.q0[:nP], a.w[:nP], a.active[:nP]
	pStart, mBroker, mCoef := a.pStart[:nP+1], a.mBroker, a.mCoef
	live := 0
	for i := range nP {
		if held[i] || !(goal[i] > q[i]*(1+1e-12)) {
			continue
		}
		lo, hi := pStart[i], pStart[i+1]
		if lo == hi {
			q[i] = goal[i] // placed nowhere: costs nothing
			continue
		}
		active[i] = true
		live++
		q0[i] = q[i]
		wi, d := w[i], goal[i]-q0[i]
		queue = append(queue, fillItem{d / wi, i})
		coef := mCoef[lo:hi]
		for k, b := range mBroker[lo:hi] {
			f, c := &fb[b], coef[k]
			f.rate += wi * c
			f.nActive++
			f.want += d * c
		}
	}
	a.live = live
	a.queue = queue
	if len(queue) == 0 {
		return nil
	}
	// A broker with room for every goal on it never stops a project: it
	// stays off the heap (the margin covers rounding in the slack).
	slack := a.slack[:nB]
	for b := range fb {
		f := &fb[b]
		f.slack = slack[b]
		f.hpos = -1
		if f.nActive > 0 && !(f.want <= f.slack*(1-1e-9)) {
			f.sat = a.saturation(b, 0)
			a.heapPush(b)
		}
	}
	return queue
}

// stop deactivates project i at level.
func (a *allocator) stop(i int, level float64) {
	a.active[i] = false
	a.live--
	wi := a.w[i]
	a.q[i] = min(a.q0[i]+wi*level, a.goal[i])
	fb := a.fb
	lo, hi := a.pStart[i], a.pStart[i+1]
	mCoef := a.mCoef[lo:hi]
	for k, b := range a.mBroker[lo:hi] {
		f := &fb[b]
		f.slack -= f.rate * (level - f.at)
		f.at = level
		f.nActive--
		if f.nActive == 0 {
			f.rate = 0
		} else {
			gone := wi * mCoef[k]
			f.rate -= gone
			if !(f.rate > 1e-9*gone) {
				// The projects left weigh next to nothing beside the one
				// that stopped, and the subtraction cancelled them out:
				// sum them again, or their growth would cost no slack.
				f.rate = a.activeRate(b)
			}
		}
		// The heap's key is a lower bound of the broker's saturation:
		// a stop only raises it (but for rounding), so the key is raised
		// lazily, when the broker comes to the top (nextBroker).
		if f.hpos >= 0 {
			if s := f.saturation(level); !(s >= f.sat) {
				f.sat = s
				a.heapFix(b)
			}
		}
	}
}

// activeRate sums w × coef over the active projects on broker b.
func (a *allocator) activeRate(b int) float64 {
	var r float64
	for _, j := range a.members(b) {
		if i := a.owner[j]; a.active[i] {
			r += a.w[i] * a.mCoef[j]
		}
	}
	return r
}

// nextBroker returns the level at which the next broker runs out, with
// that broker at the top of the heap; +Inf if none will.
func (a *allocator) nextBroker() float64 {
	for len(a.heap) > 0 {
		f := &a.fb[a.heap[0]]
		s := f.saturation(f.at)
		if !(s > f.sat) {
			return f.sat
		}
		f.sat = s
		a.heapDown(0)
	}
	return math.Inf(1)
}

// saturation is the level at which broker b runs out of slack.
func (a *allocator) saturation(b int, level float64) float64 {
	return a.fb[b].saturation(level)
}

// saturation is the level at which the broker runs out of slack, given
// its slack is up to date at level.
func (f *fillBroker) saturation(level float64) float64 {
	if f.nActive == 0 || !(f.rate > 0) {
		return math.Inf(1)
	}
	return level + max(0, f.slack)/f.rate
}

func (a *allocator) heapLess(x, y int) bool {
	bx, by := a.heap[x], a.heap[y]
	if sx, sy := a.fb[bx].sat, a.fb[by].sat; sx != sy {
		return sx < sy
	}
	return bx < by
}

func (a *allocator) heapSwap(x, y int) {
	a.heap[x], a.heap[y] = a.heap[y], a.heap[x]
	a.fb[a.heap[x]].hpos = x
	a.fb[a.heap[y]].hpos = y
}

func (a *allocator) heapUp(k int) {
	for k > 0 {
		p := (k - 1) / 2
		if !a.heapLess(k, p) {
			return
		}
		a.heapSwap(k, p)
		k = p
	}
}

func (a *allocator) heapDown(k int) {
	n := len(a.heap)
	for {
		l := 2*k + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && a.heapLess(r, l) {
			m = r
		}
		if !a.heapLess(m, k) {
			return
		}
		a.heapSwap(k, m)
		k = m
	}
}

func (a *allocator) heapPush(b int) {
	a.heap = append(a.heap, b)
	a.fb[b].hpos = len(a.heap) - 1
	a.heapUp(len(a.heap) - 1)
}

func (a *allocator) heapFix(b int) {
	a.heapUp(a.fb[b].hpos)
	a.heapDown(a.fb[b].hpos)
}

func (a *allocator) heapPop() int {
	b := a.heap[0]
	last := len(a.heap) - 1
	a.heapSwap(0, last)
	a.heap = a.heap[:last]
	a.fb[b].hpos = -1
	if last > 0 {
		a.heapDown(0)
	}
	return b
}
