package scenario

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/headroomhq/headroom/config"
)

// Demand is a project's total demand in one direction, in bytes/s, as the
// sum of its parts, never below zero:
//
//	level (base, changed by steps) + diurnal + spikes + flash crowds + trace
//
// multiplied by (1 + noise × a standard normal draw).
type Demand struct {
	// Base is the constant level.
	Base config.Rate `yaml:"base"`
	// Diurnal adds a daily wave.
	Diurnal *Diurnal `yaml:"diurnal"`
	// Noise is the relative standard deviation of per-round noise.
	Noise float64 `yaml:"noise"`
	// Spikes adds short random bursts.
	Spikes *Spikes `yaml:"spikes"`
	// Steps change the level from a given time on.
	Steps []Step `yaml:"steps"`
	// FlashCrowds add sudden surges that decay.
	FlashCrowds []FlashCrowd `yaml:"flash_crowds"`
	// Trace replays a recorded series.
	Trace *Trace `yaml:"trace"`
}

// Diurnal is a wave between 0 and Amplitude that peaks at Peak each Period.
type Diurnal struct {
	Amplitude config.Rate `yaml:"amplitude"`
	// Peak is the offset from the start of the scenario (mod Period) at
	// which the wave is highest; it sets the phase.
	Peak model.Duration `yaml:"peak"`
	// Period defaults to 24h.
	Period model.Duration `yaml:"period"`
}

// Spikes are bursts that start at random rounds.
type Spikes struct {
	// PerHour is the expected number of spikes per hour.
	PerHour float64 `yaml:"per_hour"`
	// Magnitude is added to the demand during a spike.
	Magnitude config.Rate `yaml:"magnitude"`
	// Duration of each spike. Default one round.
	Duration model.Duration `yaml:"duration"`
}

// Step sets the level to Level from At on.
type Step struct {
	At    model.Duration `yaml:"at"`
	Level config.Rate    `yaml:"level"`
}

// FlashCrowd adds up to Peak: a linear rise over Rise, Hold at the peak, then
// an exponential decay with half-life Decay.
type FlashCrowd struct {
	At    model.Duration `yaml:"at"`
	Peak  config.Rate    `yaml:"peak"`
	Rise  model.Duration `yaml:"rise"`
	Hold  model.Duration `yaml:"hold"`
	Decay model.Duration `yaml:"decay"`
}

// Trace replays a CSV file of timestamp,value rows.
type Trace struct {
	// File is relative to the scenario file.
	File string `yaml:"file"`
	// ScaleToPeak rescales the trace so that its largest value is this.
	ScaleToPeak config.Rate `yaml:"scale_to_peak"`
	// ScaleToMean rescales the trace so that its mean is this.
	ScaleToMean config.Rate `yaml:"scale_to_mean"`
	// TimeScale plays the trace faster (above 1) or slower (below 1).
	// Default 1. The trace loops when it runs out.
	TimeScale float64 `yaml:"time_scale"`

	offsets []float64 // seconds since the first row
	values  []float64 // scaled
	span    float64
}

func (d *Demand) validate(path string) []error {
	var errs problems
	if d.Noise < 0 || d.Noise > 1 || math.IsNaN(d.Noise) {
		errs.add(path+".noise", "must be in [0, 1], got %v", d.Noise)
	}
	if w := d.Diurnal; w != nil {
		if w.Period < 0 {
			errs.add(path+".diurnal.period", "must be positive")
		}
		if w.Peak < 0 {
			errs.add(path+".diurnal.peak", "must not be negative")
		}
	}
	if s := d.Spikes; s != nil {
		if s.PerHour < 0 || s.PerHour > 3600 || math.IsNaN(s.PerHour) {
			errs.add(path+".spikes.per_hour", "must be in [0, 3600], got %v", s.PerHour)
		}
		if s.Duration < 0 {
			errs.add(path+".spikes.duration", "must not be negative")
		}
	}
	for i, st := range d.Steps {
		if st.At < 0 {
			errs.add(path+fmt.Sprintf(".steps[%d].at", i), "must not be negative")
		}
		if i > 0 && st.At < d.Steps[i-1].At {
			errs.add(path+fmt.Sprintf(".steps[%d].at", i), "steps must be in time order")
		}
	}
	for i, f := range d.FlashCrowds {
		if f.At < 0 || f.Rise < 0 || f.Hold < 0 || f.Decay < 0 {
			errs.add(path+fmt.Sprintf(".flash_crowds[%d]", i), "times must not be negative")
		}
	}
	if t := d.Trace; t != nil {
		if t.File == "" {
			errs.add(path+".trace.file", "required")
		}
		if t.ScaleToPeak > 0 && t.ScaleToMean > 0 {
			errs.add(path+".trace", "set scale_to_peak or scale_to_mean, not both")
		}
		if t.TimeScale < 0 || math.IsNaN(t.TimeScale) || math.IsInf(t.TimeScale, 0) {
			errs.add(path+".trace.time_scale", "must be a finite number above zero, got %v", t.TimeScale)
		}
	}
	return errs
}

func (s *Scenario) loadTraces() error {
	var errs []error
	for i := range s.Projects {
		for _, d := range config.Directions {
			dem := s.Projects[i].DemandSpec(d)
			if dem == nil || dem.Trace == nil {
				continue
			}
			path := fmt.Sprintf("projects[%d].demand.%s.trace.file", i, d)
			if err := dem.Trace.load(s.dir); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	for k := range s.Exempt {
		for d, dem := range map[string]*Demand{"produce": s.Exempt[k].Demand.Produce, "fetch": s.Exempt[k].Demand.Fetch} {
			if dem != nil && dem.Trace != nil {
				if err := dem.Trace.load(s.dir); err != nil {
					errs = append(errs, fmt.Errorf("exempt[%d].demand.%s.trace.file: %w", k, d, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (t *Trace) load(dir string) error {
	file := t.File
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("open trace: %w", err)
	}
	defer f.Close()
	ts, vs, err := ReadCSV(f)
	if err != nil {
		return fmt.Errorf("read trace %s: %w", file, err)
	}
	if len(ts) < 2 {
		return fmt.Errorf("read trace %s: need at least 2 rows, got %d", file, len(ts))
	}
	if t.TimeScale == 0 {
		t.TimeScale = 1
	}
	t.offsets = make([]float64, len(ts))
	var peak, sum float64
	for i := range ts {
		t.offsets[i] = ts[i].Sub(ts[0]).Seconds()
		peak = max(peak, vs[i])
		sum += vs[i]
	}
	scale := 1.0
	switch {
	case t.ScaleToPeak > 0 && peak > 0:
		scale = float64(t.ScaleToPeak) / peak
	case t.ScaleToMean > 0 && sum > 0:
		scale = float64(t.ScaleToMean) / (sum / float64(len(vs)))
	}
	t.values = make([]float64, len(vs))
	for i, v := range vs {
		t.values[i] = v * scale
	}
	// The loop closes with one median step, so the last row lasts as long
	// as a typical row.
	steps := make([]float64, len(ts)-1)
	for i := 1; i < len(ts); i++ {
		steps[i-1] = t.offsets[i] - t.offsets[i-1]
	}
	sort.Float64s(steps)
	t.span = t.offsets[len(ts)-1] + steps[len(steps)/2]
	return nil
}

// ReadCSV reads timestamp,value rows. A header row is allowed. Timestamps
// are RFC 3339, "2006-01-02 15:04:05" or Unix seconds; they must not go backwards.
// Values must be finite and not negative. Rows that repeat the previous
// row's timestamp are merged into it as the mean of their values.
func ReadCSV(r io.Reader) ([]time.Time, []float64, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var ts []time.Time
	var vs []float64
	var same []int // rows merged into each timestamp
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) < 2 {
			return nil, nil, fmt.Errorf("line %d: want timestamp,value, got %d field(s)", line, len(rec))
		}
		if line == 1 && strings.EqualFold(strings.TrimSpace(rec[0]), "timestamp") {
			continue
		}
		t, err := ParseTimestamp(rec[0])
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: value %q is not a number", line, rec[1])
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, nil, fmt.Errorf("line %d: value %v must be finite and not negative", line, v)
		}
		if n := len(ts); n > 0 && t.Equal(ts[n-1]) {
			// Recorders repeat a timestamp (two readings in one
			// interval): the rows at one time count as their mean.
			same[n-1]++
			vs[n-1] += (v - vs[n-1]) / float64(same[n-1])
			continue
		}
		if n := len(ts); n > 0 && !t.After(ts[n-1]) {
			return nil, nil, fmt.Errorf("line %d: timestamp %s goes backwards", line, rec[0])
		}
		ts = append(ts, t)
		vs = append(vs, v)
		same = append(same, 1)
	}
	return ts, vs, nil
}

// ParseTimestamp accepts RFC 3339, "2006-01-02 15:04:05" (UTC) and Unix
// seconds.
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q: want RFC 3339, \"2006-01-02 15:04:05\" or Unix seconds", s)
}

func (t *Trace) at(sec float64) float64 {
	x := math.Mod(sec*t.TimeScale, t.span)
	i := sort.SearchFloat64s(t.offsets, x)
	switch {
	case i < len(t.offsets) && t.offsets[i] == x:
		return t.values[i]
	case i == 0:
		return t.values[0]
	case i >= len(t.offsets):
		// Between the last row and the loop back to the first.
		last := len(t.offsets) - 1
		f := (x - t.offsets[last]) / (t.span - t.offsets[last])
		return t.values[last] + f*(t.values[0]-t.values[last])
	}
	f := (x - t.offsets[i-1]) / (t.offsets[i] - t.offsets[i-1])
	return t.values[i-1] + f*(t.values[i]-t.values[i-1])
}

// Rate returns project i's true total demand in direction d during round r,
// in bytes/s. It is a pure function of the scenario, its seed and r.
func (s *Scenario) Rate(i int, d config.Direction, r int) float64 {
	return s.rate(i, d, r, float64(r)*time.Duration(s.Round).Seconds(), true)
}

// RateMean returns project i's demand in direction d during round r
// without its noise draw: level, steps, diurnal wave, spikes, flash crowds
// and trace, all of which the scenario fixes in advance. The true demand
// is RateMean × (1 + Noise × a standard normal draw), floored at zero.
func (s *Scenario) RateMean(i int, d config.Direction, r int) float64 {
	return s.rate(i, d, r, float64(r)*time.Duration(s.Round).Seconds(), false)
}

// Noise returns the relative standard deviation of project i's demand
// noise in direction d (0 when it has none).
func (s *Scenario) Noise(i int, d config.Direction) float64 {
	if dem := s.Projects[i].DemandSpec(d); dem != nil {
		return dem.Noise
	}
	return 0
}

// RateAt returns project i's true total demand in direction d at time t
// after the start, in bytes/s, for callers that need demand between round
// boundaries (the lab's load generators). The smooth parts (level, steps,
// diurnal wave, flash crowds, trace) are evaluated at t; noise and spikes
// are drawn once per round, those of the round t falls in. So
// RateAt(i, d, r×round) equals Rate(i, d, r). Negative t is taken as 0.
func (s *Scenario) RateAt(i int, d config.Direction, t time.Duration) float64 {
	t = max(t, 0)
	return s.rate(i, d, int(t/time.Duration(s.Round)), t.Seconds(), true)
}

// ProjectIndex returns the index of the project called name.
func (s *Scenario) ProjectIndex(name string) (int, bool) {
	for i := range s.Projects {
		if s.Projects[i].Name == name {
			return i, true
		}
	}
	return 0, false
}

func (s *Scenario) rate(i int, d config.Direction, r int, sec float64, noisy bool) float64 {
	return s.demandAt(s.Projects[i].DemandSpec(d), uint64(i), d, r, sec, noisy)
}

// demandAt evaluates a demand shape in round r (sec seconds in); key
// seeds its spikes and noise.
func (s *Scenario) demandAt(dem *Demand, key uint64, d config.Direction, r int, sec float64, noisy bool) float64 {
	if dem == nil {
		return 0
	}
	round := time.Duration(s.Round).Seconds()
	v := float64(dem.Base)
	for _, st := range dem.Steps {
		if sec >= time.Duration(st.At).Seconds() {
			v = float64(st.Level)
		}
	}
	if w := dem.Diurnal; w != nil {
		period := time.Duration(w.Period).Seconds()
		if period == 0 {
			period = 86400
		}
		v += float64(w.Amplitude) * (1 + math.Cos(2*math.Pi*(sec-time.Duration(w.Peak).Seconds())/period)) / 2
	}
	if sp := dem.Spikes; sp != nil && sp.PerHour > 0 {
		p := sp.PerHour * round / 3600
		n := 1
		if sp.Duration > 0 {
			n = max(1, int(math.Ceil(time.Duration(sp.Duration).Seconds()/round)))
		}
		for k := 0; k < n && r-k >= 0; k++ {
			if uniform(s.Seed, key, uint64(d), uint64(r-k), 1) < p {
				v += float64(sp.Magnitude)
				break
			}
		}
	}
	for _, f := range dem.FlashCrowds {
		v += f.at(sec)
	}
	if dem.Trace != nil {
		v += dem.Trace.at(sec)
	}
	if noisy && dem.Noise > 0 {
		v *= 1 + dem.Noise*Normal(s.Seed, key, uint64(d), uint64(r), 2)
	}
	return max(v, 0)
}

func (f FlashCrowd) at(sec float64) float64 {
	t := sec - time.Duration(f.At).Seconds()
	if t < 0 {
		return 0
	}
	rise, hold := time.Duration(f.Rise).Seconds(), time.Duration(f.Hold).Seconds()
	switch {
	case t < rise:
		return float64(f.Peak) * t / rise
	case t < rise+hold:
		return float64(f.Peak)
	}
	decay := time.Duration(f.Decay).Seconds()
	if decay == 0 {
		return 0
	}
	return float64(f.Peak) * math.Exp2(-(t-rise-hold)/decay)
}

// splitmix64 is a fast, well-mixed hash; the draws below are stateless so
// any round can be evaluated on its own.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hash(seed int64, a, b, c, salt uint64) uint64 {
	h := splitmix64(uint64(seed))
	for _, v := range []uint64{a, b, c, salt} {
		h = splitmix64(h ^ v)
	}
	return h
}

func uniform(seed int64, a, b, c, salt uint64) float64 {
	return (float64(hash(seed, a, b, c, salt)>>11) + 0.5) / (1 << 53)
}

// Normal returns a standard normal draw determined by its arguments.
func Normal(seed int64, a, b, c, salt uint64) float64 {
	u1 := uniform(seed, a, b, c, salt)
	u2 := uniform(seed, a, b, c, salt+1000003)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}
