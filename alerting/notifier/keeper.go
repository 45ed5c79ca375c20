package notifier

import (
	"maps"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// Sender queues alerts for delivery; Notifier implements it.
type Sender interface {
	Send(alerts ...Alert)
}

// Keeper turns "these alerts are firing now", evaluated every round, into
// Alertmanager notifications: new alerts are sent at once; firing alerts are
// re-sent every ResendEvery with EndsAt pushed forward, so that Alertmanager
// keeps them open but resolves them by itself if Headroom goes away; alerts
// no longer firing are sent once as resolved.
type Keeper struct {
	sender Sender

	mu          sync.Mutex
	resendEvery time.Duration
	active      map[model.Fingerprint]*kept
}

type kept struct {
	alert    Alert
	lastSent time.Time
}

// NewKeeper returns a keeper sending through s. resendEvery defaults to 1m.
func NewKeeper(s Sender, resendEvery time.Duration) *Keeper {
	if resendEvery <= 0 {
		resendEvery = time.Minute
	}
	return &Keeper{sender: s, resendEvery: resendEvery, active: map[model.Fingerprint]*kept{}}
}

// SetResendEvery changes the resend interval (a configuration reload); d
// defaults to 1m. It applies from the next Update: a firing alert is re-sent
// once d has passed since it was last sent, and from then on its EndsAt is 4d
// ahead.
func (k *Keeper) SetResendEvery(d time.Duration) {
	if d <= 0 {
		d = time.Minute
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.resendEvery = d
}

// Update records the alerts firing at now and sends what changed. An
// alert's identity is its label set.
func (k *Keeper) Update(now time.Time, firing []Alert) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []Alert
	seen := make(map[model.Fingerprint]bool, len(firing))
	for _, a := range firing {
		fp := a.Fingerprint()
		seen[fp] = true
		cur, ok := k.active[fp]
		if !ok {
			if a.StartsAt.IsZero() {
				a.StartsAt = now
			}
			cur = &kept{alert: a}
			k.active[fp] = cur
		} else {
			// Keep the original start; take the newest annotations.
			changed := !maps.Equal(cur.alert.Annotations, a.Annotations) || cur.alert.GeneratorURL != a.GeneratorURL
			a.StartsAt = cur.alert.StartsAt
			cur.alert = a
			if !changed && now.Sub(cur.lastSent) < k.resendEvery {
				continue
			}
		}
		cur.alert.EndsAt = now.Add(4 * k.resendEvery)
		cur.lastSent = now
		out = append(out, cur.alert)
	}
	for fp, cur := range k.active {
		if seen[fp] {
			continue
		}
		resolved := cur.alert
		resolved.EndsAt = now
		out = append(out, resolved)
		delete(k.active, fp)
	}
	if len(out) > 0 {
		k.sender.Send(out...)
	}
}

// Active returns the alerts currently firing.
func (k *Keeper) Active() []Alert {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Alert, 0, len(k.active))
	for _, c := range k.active {
		out = append(out, c.alert)
	}
	return out
}
