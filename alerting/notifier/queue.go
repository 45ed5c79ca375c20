package notifier

import (
	"sync"

	"github.com/prometheus/common/model"
)

// queue is a bounded FIFO of distinct alerts. Pushing an alert that is
// already queued replaces it in place with the newer state, so a refresh or
// a resolution never piles up behind its own older copies.
type queue struct {
	mu    sync.Mutex
	cap   int
	items []queued
	index map[model.Fingerprint]int // position in items
	seq   uint64
}

type queued struct {
	fp    model.Fingerprint
	seq   uint64 // bumps on every replacement, so ack keeps newer states
	alert Alert
}

func newQueue(capacity int) *queue {
	return &queue{cap: capacity, index: map[model.Fingerprint]int{}}
}

// push adds alerts and returns how many old alerts were dropped to make room.
func (q *queue) push(alerts []Alert) (dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, a := range alerts {
		fp := a.Fingerprint()
		q.seq++
		if i, ok := q.index[fp]; ok {
			q.items[i].alert = a
			q.items[i].seq = q.seq
			continue
		}
		if len(q.items) >= q.cap {
			delete(q.index, q.items[0].fp)
			q.items = q.items[1:]
			q.reindex()
			dropped++
		}
		q.index[fp] = len(q.items)
		q.items = append(q.items, queued{fp: fp, seq: q.seq, alert: a})
	}
	return dropped
}

// peek returns up to n alerts from the head without removing them.
func (q *queue) peek(n int) []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.items))
	out := make([]queued, n)
	copy(out, q.items[:n])
	return out
}

// ack removes delivered alerts, unless a newer state replaced them while
// they were in flight.
func (q *queue) ack(sent []queued) {
	q.mu.Lock()
	defer q.mu.Unlock()
	done := make(map[model.Fingerprint]uint64, len(sent))
	for _, s := range sent {
		done[s.fp] = s.seq
	}
	kept := q.items[:0]
	for _, it := range q.items {
		if seq, ok := done[it.fp]; ok && seq == it.seq {
			continue
		}
		kept = append(kept, it)
	}
	clear(q.items[len(kept):])
	q.items = kept
	q.reindex()
}

func (q *queue) reindex() {
	clear(q.index)
	for i, it := range q.items {
		q.index[it.fp] = i
	}
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
