package outbox

// queue is a bounded FIFO. An item whose key is already queued replaces
// the queued one in place, so that a newer state never piles up behind its
// own older copies; an item without a key is always appended.
type queue[T any] struct {
	cap   int
	items []entry[T]
	index map[string]int // position in items, for keyed items
	seq   uint64
}

type entry[T any] struct {
	key  string // "" when the item has no key
	seq  uint64 // new on every push and replacement, so ack keeps newer states
	item T
}

func newQueue[T any](capacity int) *queue[T] {
	return &queue[T]{cap: capacity, index: map[string]int{}}
}

// push adds items and returns the ones it dropped, oldest first, to make
// room.
func (q *queue[T]) push(key func(T) string, items []T) (dropped []T) {
	for _, it := range items {
		k := ""
		if key != nil {
			k = key(it)
		}
		q.seq++
		if i, ok := q.index[k]; ok && k != "" {
			q.items[i].item, q.items[i].seq = it, q.seq
			continue
		}
		if len(q.items) >= q.cap {
			dropped = append(dropped, q.items[0].item)
			q.items = q.items[1:]
			q.reindex()
		}
		if k != "" {
			q.index[k] = len(q.items)
		}
		q.items = append(q.items, entry[T]{key: k, seq: q.seq, item: it})
	}
	return dropped
}

// peek returns up to n entries from the head without removing them.
func (q *queue[T]) peek(n int) []entry[T] {
	n = min(n, len(q.items))
	out := make([]entry[T], n)
	copy(out, q.items[:n])
	return out
}

// ack removes delivered entries, unless a newer state replaced them while
// they were in flight; an entry dropped meanwhile is simply gone.
func (q *queue[T]) ack(sent []entry[T]) {
	done := make(map[uint64]bool, len(sent))
	for _, s := range sent {
		done[s.seq] = true
	}
	kept := q.items[:0]
	for _, e := range q.items {
		if !done[e.seq] {
			kept = append(kept, e)
		}
	}
	clear(q.items[len(kept):])
	q.items = kept
	q.reindex()
}

func (q *queue[T]) reindex() {
	clear(q.index)
	for i, e := range q.items {
		if e.key != "" {
			q.index[e.key] = i
		}
	}
}

func (q *queue[T]) len() int { return len(q.items) }
