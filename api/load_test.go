package api

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkMixedReads serves the API on loopback and sends a mix of reads
// from 8 concurrent clients; it reports the p50 and p99 latency seen by the
// clients. Run: go test -run '^$' -bench MixedReads -benchtime 10000x ./api
func BenchmarkMixedReads(b *testing.B) {
	t := &testing.T{}
	e := newEnv(t, b.TempDir()+"/h.db", nil)
	defer e.db.Close()
	srv := httptest.NewServer(e.api)
	defer srv.Close()
	paths := []string{"/api/v1/groups", "/api/v1/projects", "/api/v1/projects/checkout", "/api/v1/overrides", "/api/v1/quotas", "/api/v1/alerts", "/api/v1/health"}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		var mine []time.Duration
		for pb.Next() {
			req, _ := http.NewRequest("GET", srv.URL+paths[i%len(paths)], nil)
			req.Header.Set("Authorization", "Bearer "+viewerToken)
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(start))
			if resp.StatusCode != 200 {
				b.Error(fmt.Sprintf("%s: %d", paths[i%len(paths)], resp.StatusCode))
				return
			}
			i++
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	client.CloseIdleConnections()
}
