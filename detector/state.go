package detector

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"reflect"
	"sort"

	"github.com/headroomhq/headroom/config"
)

// stateVersion changes whenever the saved state's meaning changes; a state
// of another version is refused rather than misread.
const stateVersion = 2

// monitorState is what a Monitor has learnt, in a form that survives a
// restart: every traffic series' filter window, levels, seasonal baseline
// and error scales, and every condition's run. Derived parameters are not
// saved; they follow from the configuration, which must be the same.
type monitorState struct {
	Version    int
	Config     config.DetectorConfig
	Traffic    []trafficState
	Conditions []conditionState
}

type tailState struct {
	Mean, Variance, Rate, M1, M2, Exc float64
}

type trafficState struct {
	Project, Direction string
	Series             seriesState
}

type conditionState struct {
	Kind, Key        string
	Run, Since       int
	Fired            bool
	Sustain, Refract int
}

type seriesState struct {
	Ring                   []float64
	Next                   int
	N, LastT               int64
	Interval               float64
	Slow, SlowDt, ASlow    float64
	Season, Scale          []float64
	Seen                   []uint16
	Bucket                 int64
	AccSum, AccErr         float64
	AccN                   int
	Dev, Level, MaeS, MaeN float64
	Week                   []float64
	WeekSeen               []uint16
	WBucket                int64
	WAccSum, DevW, MaeW    float64
	WAccN                  int
	Peak                   float64
	Short, Mean, Variance  float64
	Spike                  tailState
	State                  uint8
	PendingDir             int8
	Pending                int
	SinceEvent             int64
}

// MarshalBinary encodes what the Monitor has learnt.
func (m *Monitor) MarshalBinary() ([]byte, error) {
	st := monitorState{Version: stateVersion, Config: m.cfg}
	for k, s := range m.traffic {
		st.Traffic = append(st.Traffic, trafficState{Project: k.project, Direction: k.dir.String(), Series: s.saved()})
	}
	sort.Slice(st.Traffic, func(i, j int) bool {
		a, b := st.Traffic[i], st.Traffic[j]
		return a.Project < b.Project || a.Project == b.Project && a.Direction < b.Direction
	})
	for k, c := range m.conditions {
		st.Conditions = append(st.Conditions, conditionState{Kind: string(k.kind), Key: k.key, Run: c.run, Since: c.since,
			Fired: c.fired, Sustain: c.sustain, Refract: c.refractory})
	}
	sort.Slice(st.Conditions, func(i, j int) bool {
		a, b := st.Conditions[i], st.Conditions[j]
		return a.Kind < b.Kind || a.Kind == b.Kind && a.Key < b.Key
	})
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		return nil, fmt.Errorf("encode detector state: %w", err)
	}
	return buf.Bytes(), nil
}

// UnmarshalBinary replaces the Monitor's state with a saved one. The state
// must come from a Monitor with the same configuration: a baseline learnt
// with other buckets or windows means something else, and is refused with
// an error, leaving the Monitor as it was.
func (m *Monitor) UnmarshalBinary(b []byte) error {
	var st monitorState
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return fmt.Errorf("decode detector state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("decode detector state: version %d, want %d", st.Version, stateVersion)
	}
	if !reflect.DeepEqual(st.Config, m.cfg) {
		return fmt.Errorf("decode detector state: it was learnt with another detector configuration")
	}
	traffic := make(map[trafficKey]*Series, len(st.Traffic))
	for _, t := range st.Traffic {
		dir, err := config.ParseDirection(t.Direction)
		if err != nil {
			return fmt.Errorf("decode detector state: series %s/%s: %w", t.Project, t.Direction, err)
		}
		s, err := NewSeries(m.cfg, Options{NonNegative: true})
		if err != nil {
			return err
		}
		if err := s.restore(t.Series); err != nil {
			return fmt.Errorf("decode detector state: series %s/%s: %w", t.Project, t.Direction, err)
		}
		traffic[trafficKey{t.Project, dir}] = s
	}
	conds := make(map[condKey]*condition, len(st.Conditions))
	for _, c := range st.Conditions {
		conds[condKey{EventKind(c.Kind), c.Key}] = &condition{sustain: c.Sustain, refractory: c.Refract, run: c.Run, fired: c.Fired, since: c.Since}
	}
	m.traffic, m.conditions = traffic, conds
	return nil
}

func (s *Series) saved() seriesState {
	return seriesState{
		Ring: append([]float64(nil), s.filter.ring...), Next: s.filter.next,
		N: s.n, LastT: s.lastT, Interval: s.interval,
		Slow: s.slow, SlowDt: s.slowDt, ASlow: s.aSlow,
		Season: append([]float64(nil), s.season...), Scale: append([]float64(nil), s.scale...), Seen: append([]uint16(nil), s.seen...),
		Bucket: s.bucket, AccSum: s.accSum, AccErr: s.accErr, AccN: s.accN,
		Dev: s.dev, Level: s.level, MaeS: s.maeS, MaeN: s.maeN,
		Week: append([]float64(nil), s.week...), WeekSeen: append([]uint16(nil), s.weekSeen...),
		WBucket: s.wBucket, WAccSum: s.wAccSum, DevW: s.devW, MaeW: s.maeW, WAccN: s.wAccN,
		Peak: s.peak, Short: s.step1.short, Mean: s.step1.mean, Variance: s.step1.variance,
		Spike: tailState{Mean: s.spike.mean, Variance: s.spike.variance, Rate: s.spike.rate, M1: s.spike.m1, M2: s.spike.m2, Exc: s.spike.exc},
		State: uint8(s.state), PendingDir: int8(s.pendingDir), Pending: s.pending, SinceEvent: s.sinceEvent,
	}
}

func (s *Series) restore(st seriesState) error {
	if len(st.Ring) > cap(s.filter.ring) || len(st.Season) != len(s.season) || len(st.Scale) != len(s.scale) || len(st.Seen) != len(s.seen) ||
		len(st.Week) != len(s.week) || len(st.WeekSeen) != len(s.weekSeen) {
		return fmt.Errorf("state does not fit the configuration")
	}
	if t := st.Spike; true {
		for _, x := range []float64{t.Mean, t.Variance, t.Rate, t.M1, t.M2, t.Exc} {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("state holds a value that is not finite")
			}
		}
		if t.Variance < 0 || t.Rate < 0 || t.Rate > 1 || t.Exc < 0 || t.M1 < 0 || t.M2 < 0 {
			return fmt.Errorf("state has an inconsistent score tail")
		}
	}
	if st.Next < 0 || st.Next >= max(1, cap(s.filter.ring)) || len(st.Ring) < cap(s.filter.ring) && st.Next != 0 || st.AccN < 0 || st.WAccN < 0 || st.Pending < 0 {
		return fmt.Errorf("state has an inconsistent filter or accumulator")
	}
	for _, xs := range [][]float64{st.Ring, st.Season, st.Scale, st.Week, {st.WAccSum, st.DevW, st.MaeW, st.Interval, st.Slow, st.SlowDt, st.ASlow, st.AccSum, st.AccErr,
		st.Dev, st.Level, st.MaeS, st.MaeN, st.Peak, st.Short, st.Mean, st.Variance}} {
		for _, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("state holds a value that is not finite")
			}
		}
	}
	s.filter.ring = append(s.filter.ring[:0], st.Ring...)
	s.filter.sorted = append(s.filter.sorted[:0], st.Ring...)
	sort.Float64s(s.filter.sorted)
	s.filter.next = st.Next
	s.n, s.lastT, s.interval = st.N, st.LastT, st.Interval
	s.slow, s.slowDt, s.aSlow = st.Slow, st.SlowDt, st.ASlow
	copy(s.season, st.Season)
	copy(s.scale, st.Scale)
	copy(s.seen, st.Seen)
	s.bucket, s.accSum, s.accErr, s.accN = st.Bucket, st.AccSum, st.AccErr, st.AccN
	s.dev, s.level, s.maeS, s.maeN = st.Dev, st.Level, st.MaeS, st.MaeN
	copy(s.week, st.Week)
	copy(s.weekSeen, st.WeekSeen)
	s.wBucket, s.wAccSum, s.wAccN, s.devW, s.maeW = st.WBucket, st.WAccSum, st.WAccN, st.DevW, st.MaeW
	s.peak = st.Peak
	s.step1 = surprise{short: st.Short, mean: st.Mean, variance: st.Variance}
	t := st.Spike
	s.spike = tail{mean: t.Mean, variance: t.Variance, rate: t.Rate, m1: t.M1, m2: t.M2, exc: t.Exc}
	s.state, s.pendingDir, s.pending, s.sinceEvent = State(st.State), Shift(st.PendingDir), st.Pending, st.SinceEvent
	return nil
}
