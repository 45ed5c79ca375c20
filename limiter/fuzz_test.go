package limiter

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzAllocate feeds Allocate arbitrary numbers, NaN, infinities and
// negatives included, in every field. A round must never panic, must hold
// what it cannot trust, and must keep every broker within its safe capacity
// unless floors and held quotas alone exceed it.
func FuzzAllocate(f *testing.F) {
	f.Add([]byte{2, 3, 0, 0, 0, 0, 0, 0, 0x59, 0x40})
	f.Add(make([]byte, 200))
	nan := make([]byte, 8)
	binary.LittleEndian.PutUint64(nan, math.Float64bits(math.NaN()))
	f.Add(append([]byte{1, 1}, append(nan, nan...)...))
	// One broker, one project just short of its demand, with a small
	// increase held and some already owed.
	owed := []byte{0, 0}
	for _, v := range []float64{11.4e6, 1 << 20, 10e6, 1e5, 1e9, 1, 10e6, 10.2e6, 10.2e6, 0, 10.3e6, 0.01} {
		owed = binary.LittleEndian.AppendUint64(owed, math.Float64bits(v))
	}
	f.Add(owed)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		nB, nP := 1+int(b[0]%4), 1+int(b[1]%5)
		b = b[2:]
		next := func() float64 {
			if len(b) < 8 {
				return 1 << 20
			}
			v := math.Float64frombits(binary.LittleEndian.Uint64(b))
			b = b[8:]
			return v
		}
		s := &State{Group: "f", Margin: 0.9, Options: Options{Hysteresis: 0.05, Headroom: 0.1, LenderSpare: 0.1}}
		for i := range nB {
			// The reserve for exempt traffic: 0 once the input runs out.
			s.Brokers = append(s.Brokers, Broker{ID: int32(i), Capacity: next(), Reserved: next() - 1<<20})
		}
		for i := range nP {
			p := Project{Name: string(rune('a' + i)), Share: next(), Floor: next(), Ceiling: next(), Weight: next(), Quota: next()}
			for k := range 1 + i%nB {
				p.Loads = append(p.Loads, Load{Broker: (i + k) % nB, Rate: next(), Observed: next(), ThrottleMs: next(), Forecast: next()})
			}
			s.Projects = append(s.Projects, p)
		}
		// What each project is owed from increases held in earlier
		// rounds: read last, so that the corpus's older inputs keep
		// their meaning, and 0 once the input runs out.
		for i := range s.Projects {
			if len(b) >= 8 {
				s.Projects[i].Owed = next()
			}
		}
		pl := Allocate(s)
		if len(pl.Decisions) != nP {
			t.Fatalf("%d decisions for %d projects", len(pl.Decisions), nP)
		}
		load := make([]float64, nB)
		for i, d := range pl.Decisions {
			held := d.Has(ReasonHeldBadInput) || d.Has(ReasonHeldMissingData)
			if d.Write && !(d.After > 0) || math.IsInf(d.After, 0) {
				t.Fatalf("%s: writes %v", d.Project, d.After)
			}
			if !d.Write && d.After != d.Before && !(math.IsNaN(d.After) && math.IsNaN(d.Before)) {
				t.Fatalf("%s: %v -> %v without a write", d.Project, d.Before, d.After)
			}
			// An increase held for what it is owed is held: owed in
			// (0, band], no write.
			if d.Owed != 0 && (d.Write || !(d.Owed > 0 && d.Owed <= s.Options.Hysteresis)) {
				t.Fatalf("%s: owed %v with write %v", d.Project, d.Owed, d.Write)
			}
			if held && d.Note == "" {
				t.Fatalf("%s: held without a note", d.Project)
			}
			if !held && d.After < max(s.Projects[i].Floor, DefaultMinQuota)*(1-1e-9) {
				t.Fatalf("%s: %v below floor", d.Project, d.After)
			}
			if !held && d.After > s.Projects[i].Ceiling*(1+1e-9) {
				t.Fatalf("%s: %v above ceiling", d.Project, d.After)
			}
			if held || math.IsNaN(d.After) {
				continue
			}
			for _, l := range s.Projects[i].Loads {
				load[l.Broker] += d.After
			}
		}
		for k, bl := range pl.Brokers {
			c, r := s.Brokers[k].Capacity, s.Brokers[k].Reserved
			if c >= 0 && !math.IsInf(c, 0) && r >= 0 && !math.IsInf(r, 0) {
				if want := max(0, 0.9*c-r); math.Abs(bl.Safe-want) > 1e-9*max(1, want) {
					t.Fatalf("broker %d: safe %v, want 0.9 × %v − %v", k, bl.Safe, c, r)
				}
			}
			if bl.Infeasible || math.IsNaN(bl.Safe) {
				continue
			}
			anyHeld := false
			for _, d := range pl.Decisions {
				anyHeld = anyHeld || d.Has(ReasonHeldBadInput) || d.Has(ReasonHeldMissingData)
			}
			if !anyHeld && load[k] > bl.Safe*(1+1e-9)+1e-6 {
				t.Fatalf("broker %d: %v above safe %v", k, load[k], bl.Safe)
			}
		}
	})
}
