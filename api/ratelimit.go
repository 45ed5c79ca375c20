package api

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// rateLimiter is a token bucket per client key. The rate and burst come
// with each call, so that a reloaded configuration applies at once.
type rateLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(now func() time.Time) *rateLimiter {
	return &rateLimiter{now: now, buckets: map[string]*bucket{}}
}

// allow takes one token for key from a bucket refilled at rate per second
// up to burst, or says how long until one is free.
func (l *rateLimiter) allow(key string, rate float64, burst int) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	full := float64(burst)
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) > 100000 {
			l.evict(now, rate, full)
		}
		b = &bucket{tokens: full, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(full, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second)), false
}

// evict drops full buckets, which hold no state worth keeping.
func (l *rateLimiter) evict(now time.Time, rate, full float64) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*rate >= full {
			delete(l.buckets, k)
		}
	}
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}
