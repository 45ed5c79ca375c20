package detector

import (
	"fmt"
	"sort"
	"time"

	"github.com/headroomhq/headroom/config"
)

// TrafficSample is one project's byte rate in one direction, in bytes/s.
type TrafficSample struct {
	Project   string
	Direction config.Direction
	Rate      float64
}

// ThrottleSample is one project's average throttle time in one direction.
type ThrottleSample struct {
	Project   string
	Direction config.Direction
	Time      time.Duration
}

// LagStatus is a consumer group's Burrow-style lag evaluation.
type LagStatus string

const (
	LagOK     LagStatus = "OK"
	LagWarn   LagStatus = "WARN"   // lag is growing
	LagError  LagStatus = "ERR"    // lag is growing and the group stopped committing
	LagStall  LagStatus = "STALL"  // commits go on but the offset does not move
	LagStop   LagStatus = "STOP"   // the group stopped committing
	LagRewind LagStatus = "REWIND" // the committed offset went backwards
)

// LagSample is one consumer group's lag status on one topic.
type LagSample struct {
	Group  string
	Topic  string
	Status LagStatus
	Lag    int64
}

// IdleSample is one broker's idle ratios, each in [0,1].
type IdleSample struct {
	Broker         string
	NetworkIdle    float64 // network processor average idle ratio
	RequestHandler float64 // request handler average idle ratio
}

// TargetSample is the health of one scrape target.
type TargetSample struct {
	Target string
	Up     bool
	Err    string
}

// Input is what the detector needs from one round of collection. The
// collector's snapshot is adapted to it by the wiring, so the detector
// never imports the collector.
type Input struct {
	Time     time.Time
	Traffic  []TrafficSample
	Throttle []ThrottleSample
	Lag      []LagSample
	Idle     []IdleSample
	Targets  []TargetSample
}

// EventKind says what an Event is about.
type EventKind string

const (
	EventSurge      EventKind = "traffic_surge"
	EventDrop       EventKind = "traffic_drop"
	EventThrottling EventKind = "sustained_throttling"
	EventLagGrowing EventKind = "lag_growing"
	EventSaturation EventKind = "broker_saturation"
	EventTargetDown EventKind = "target_down"
)

// Event is a sustained condition worth alerting on. One incident gives one
// event: a key cannot raise the same kind again within the refractory
// period, nor while the condition lasts.
type Event struct {
	Time time.Time
	Kind EventKind
	// Key names the subject: "project/direction", "group/topic", a broker
	// or a target.
	Key     string
	Value   float64
	Expect  float64 // the baseline, for traffic events
	Score   float64
	Message string
}

// Forecast is the demand signal of one traffic series.
type Forecast struct {
	Project   string
	Direction config.Direction
	// Rate is the last rate seen; Expected the forecast one horizon ahead
	// and Upper its upper bound, which the limiter uses as demand.
	Rate     float64
	Expected float64
	Upper    float64
	Score    float64
	State    State
}

// Signals is the detector's output for one round.
type Signals struct {
	Time      time.Time
	Forecasts []Forecast // sorted by project, then direction
}

type trafficKey struct {
	project string
	dir     config.Direction
}

// Monitor keeps one Series per traffic series and one condition per
// throttled client, lagging group, broker and target. It is not safe for
// concurrent use: the round loop owns it.
type Monitor struct {
	cfg        config.DetectorConfig
	traffic    map[trafficKey]*Series
	conditions map[condKey]*condition
}

// NewMonitor returns a Monitor. cfg must be valid.
func NewMonitor(cfg config.DetectorConfig) (*Monitor, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("detector config: %v", errs[0])
	}
	return &Monitor{cfg: cfg, traffic: map[trafficKey]*Series{}, conditions: map[condKey]*condition{}}, nil
}

// Observe runs one round and returns the round's signals and the events it
// raised, ordered by kind then key.
func (m *Monitor) Observe(in Input) (Signals, []Event) {
	sig := Signals{Time: in.Time}
	var events []Event
	for _, ts := range in.Traffic {
		k := trafficKey{ts.Project, ts.Direction}
		s := m.traffic[k]
		if s == nil {
			s, _ = NewSeries(m.cfg, Options{NonNegative: true}) // cfg was validated
			m.traffic[k] = s
		}
		r := s.Observe(in.Time, ts.Rate)
		sig.Forecasts = append(sig.Forecasts, Forecast{
			Project: ts.Project, Direction: ts.Direction,
			Rate: ts.Rate, Expected: r.Forecast, Upper: r.Upper, Score: r.RawScore, State: r.State,
		})
		if r.Event != NoShift {
			kind, word := EventSurge, "above"
			if r.Event == Drop {
				kind, word = EventDrop, "below"
			}
			events = append(events, Event{
				Time: in.Time, Kind: kind, Key: ts.Project + "/" + ts.Direction.String(),
				Value: ts.Rate, Expect: r.Expected, Score: r.RawScore,
				Message: fmt.Sprintf("%s rate %.4g B/s is %s its baseline %.4g B/s for %d samples",
					ts.Direction, ts.Rate, word, r.Expected, m.cfg.Sustain),
			})
		}
	}
	threshold := time.Duration(m.cfg.ThrottleThreshold)
	for _, th := range in.Throttle {
		key := th.Project + "/" + th.Direction.String()
		if m.condition(EventThrottling, key, m.cfg.Sustain).step(th.Time > threshold) {
			events = append(events, Event{Time: in.Time, Kind: EventThrottling, Key: key, Value: th.Time.Seconds(),
				Message: fmt.Sprintf("%s throttle time %s above %s for %d samples", th.Direction, th.Time, threshold, m.cfg.Sustain)})
		}
	}
	for _, l := range in.Lag {
		key := l.Group + "/" + l.Topic
		growing := l.Status == LagWarn || l.Status == LagError || l.Status == LagStall || l.Status == LagStop
		if m.condition(EventLagGrowing, key, m.cfg.Sustain).step(growing) {
			events = append(events, Event{Time: in.Time, Kind: EventLagGrowing, Key: key, Value: float64(l.Lag),
				Message: fmt.Sprintf("consumer group %s on %s: lag %d, status %s for %d samples", l.Group, l.Topic, l.Lag, l.Status, m.cfg.Sustain)})
		}
	}
	for _, b := range in.Idle {
		idle := min(b.NetworkIdle, b.RequestHandler)
		if m.condition(EventSaturation, b.Broker, m.cfg.Sustain).step(idle < m.cfg.SaturationIdleRatio) {
			events = append(events, Event{Time: in.Time, Kind: EventSaturation, Key: b.Broker, Value: idle,
				Message: fmt.Sprintf("broker %s idle ratio %.2f (network %.2f, request handler %.2f) below %.2f for %d samples",
					b.Broker, idle, b.NetworkIdle, b.RequestHandler, m.cfg.SaturationIdleRatio, m.cfg.Sustain)})
		}
	}
	for _, tg := range in.Targets {
		if m.condition(EventTargetDown, tg.Target, m.cfg.TargetDownAfter).step(!tg.Up) {
			msg := fmt.Sprintf("target %s failed %d scrapes in a row", tg.Target, m.cfg.TargetDownAfter)
			if tg.Err != "" {
				msg += ": " + tg.Err
			}
			events = append(events, Event{Time: in.Time, Kind: EventTargetDown, Key: tg.Target, Message: msg})
		}
	}
	sort.Slice(sig.Forecasts, func(i, j int) bool {
		a, b := sig.Forecasts[i], sig.Forecasts[j]
		if a.Project != b.Project {
			return a.Project < b.Project
		}
		return a.Direction.String() < b.Direction.String() // fetch before produce, as always
	})
	sort.SliceStable(events, func(i, j int) bool {
		if events[i].Kind != events[j].Kind {
			return events[i].Kind < events[j].Kind
		}
		return events[i].Key < events[j].Key
	})
	return sig, events
}

// Forget drops the state of a traffic series that no longer exists.
func (m *Monitor) Forget(project string, dir config.Direction) {
	delete(m.traffic, trafficKey{project, dir})
}

type condKey struct {
	kind EventKind
	key  string
}

func (m *Monitor) condition(kind EventKind, key string, sustain int) *condition {
	k := condKey{kind, key}
	c := m.conditions[k]
	if c == nil {
		c = &condition{sustain: sustain, refractory: m.cfg.Refractory, since: m.cfg.Refractory + 1}
		m.conditions[k] = c
	}
	return c
}

// condition is the state machine for a yes/no condition: it fires once the
// condition has held for sustain samples in a row, then not again while it
// holds, nor within refractory samples of the last firing.
type condition struct {
	sustain, refractory int
	run                 int  // samples in a row the condition held
	fired               bool // fired during this run
	since               int  // samples since the last firing
}

func (c *condition) step(on bool) bool {
	if c.since <= c.refractory {
		c.since++
	}
	if !on {
		c.run, c.fired = 0, false
		return false
	}
	c.run++
	if c.run >= c.sustain && !c.fired && c.since > c.refractory {
		c.fired, c.since = true, 0
		return true
	}
	return false
}
