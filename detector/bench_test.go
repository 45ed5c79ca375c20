package detector

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
)

// BenchmarkSeriesObserve measures the streaming path: one sample into one
// series. Samples/s per core is 1e9 / cpu-ns/op (CPU time of the process,
// run with -cpu 1); ns/op is wall time, which a loaded machine inflates.
func BenchmarkSeriesObserve(b *testing.B) {
	s, err := NewSeries(config.DefaultDetectorConfig(), Options{NonNegative: true})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	values := make([]float64, 4096)
	for i := range values {
		values[i] = 1e6 * (1 + 0.05*rng.NormFloat64())
		if i%97 == 0 {
			values[i] *= 10
		}
	}
	start := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		s.Observe(start.Add(time.Duration(i)*round), values[i&4095])
	}
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "samples/cpu-s")
	}
}

// BenchmarkSeriesMemory reports the heap one series holds.
func BenchmarkSeriesMemory(b *testing.B) {
	const n = 1000
	keep := make([]*Series, n)
	var before, after runtime.MemStats
	for i := 0; i < b.N; i++ {
		runtime.GC()
		runtime.ReadMemStats(&before)
		for j := range keep {
			keep[j], _ = NewSeries(config.DefaultDetectorConfig(), Options{})
		}
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "bytes/series")
	runtime.KeepAlive(keep)
}

func TestObserveDoesNotAllocate(t *testing.T) {
	s := newTestSeries(t, Options{})
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		s.Observe(t0.Add(time.Duration(i)*round), float64(1000+i%7))
		i++
	})
	if allocs != 0 {
		t.Fatalf("Observe allocates %v times per sample, want 0", allocs)
	}
}
