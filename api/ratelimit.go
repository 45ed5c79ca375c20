package api

import (
	"container/list"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter holds one token bucket per client key in a table bounded by
// size: when it is full, the least recently seen client is forgotten. The
// rate, burst and size come with each call, so that a reloaded
// configuration applies at once.
type rateLimiter struct {
	mu    sync.Mutex
	now   func() time.Time
	byKey map[string]*list.Element
	lru   *list.List // front: most recently seen; values are *clientBucket
}

type clientBucket struct {
	key string
	lim *rate.Limiter
}

func newRateLimiter(now func() time.Time) *rateLimiter {
	return &rateLimiter{now: now, byKey: map[string]*list.Element{}, lru: list.New()}
}

// allow takes one token for key, or says how long until one is free.
func (l *rateLimiter) allow(key string, perSecond float64, burst, size int) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var b *clientBucket
	if e, ok := l.byKey[key]; ok {
		l.lru.MoveToFront(e)
		b = e.Value.(*clientBucket)
		if b.lim.Limit() != rate.Limit(perSecond) {
			b.lim.SetLimitAt(now, rate.Limit(perSecond))
		}
		if b.lim.Burst() != burst {
			b.lim.SetBurstAt(now, burst)
		}
	} else {
		b = &clientBucket{key: key, lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
		l.byKey[key] = l.lru.PushFront(b)
	}
	for l.lru.Len() > max(size, 1) {
		oldest := l.lru.Back()
		l.lru.Remove(oldest)
		delete(l.byKey, oldest.Value.(*clientBucket).key)
	}
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Duration(math.MaxInt64), false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// len is the number of clients in the table.
func (l *rateLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// peerKey is the rate-limit key of an unauthenticated client: its address,
// or for IPv6 its /64, the block one host commonly holds whole.
func peerKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "addr:" + ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "net:" + p.String()
	}
	return "addr:" + a.String()
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}
