package api

import (
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wrkDuration is how long TestWrk1000 runs. The API's load figure is the
// 60 s run:
//
//	go test -run TestWrk1000 -api.wrk 60s -v ./api
var wrkDuration = flag.Duration("api.wrk", 5*time.Second, "how long TestWrk1000 drives the API with wrk")

// wrkConns and wrkDelay pace wrk (Debian's wrk runs closed-loop): each
// connection waits wrkDelay after an answer before it sends again, so the
// rate is wrkConns/(wrkDelay + latency): about 1,000 requests/s with
// the few milliseconds a request takes here.
const (
	wrkConns = 68
	wrkDelay = 55 // ms
)

// wrkScript rotates wrk over the load's mixed reads with the one
// automation token, and prints the figures in a line the test parses.
const wrkScript = `
local paths = {%s}
local i = 0
wrk.headers["Authorization"] = "Bearer %s"
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
delay = function() return %d end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%%d duration_us=%%d p50_us=%%d p99_us=%%d max_us=%%d connect=%%d read=%%d write=%%d status=%%d timeout=%%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`

// TestWrk1000 drives the real API over loopback with Debian's wrk at about
// 1,000 requests/s from ONE token, on a real SQLite file holding a day's
// data, and fails on any error or non-2xx answer (a 429 from the default
// rate limit included). A missing wrk fails: scripts/setup.sh installs it.
func TestWrk1000(t *testing.T) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatal("wrk not found: run scripts/setup.sh (Debian package wrk)")
	}
	e, incident := newLoadEnv(t)
	srv := httptest.NewServer(e.api)
	defer srv.Close()
	var quoted []string
	for _, p := range loadPaths(incident) {
		quoted = append(quoted, strconv.Quote(p))
	}
	script := filepath.Join(t.TempDir(), "load.lua")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(wrkScript, strings.Join(quoted, ", "), loadToken, wrkDelay)), 0o600); err != nil {
		t.Fatal(err)
	}
	secs := max(1, int(wrkDuration.Seconds()))
	cmd := exec.Command(bin, "-t2", fmt.Sprintf("-c%d", wrkConns), fmt.Sprintf("-d%ds", secs), "--timeout", "5s", "-s", script, srv.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`WRK requests=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+) max_us=(\d+) connect=(\d+) read=(\d+) write=(\d+) status=(\d+) timeout=(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no figures in wrk's output:\n%s", out)
	}
	n := make([]float64, len(m))
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.ParseFloat(m[i], 64)
	}
	requests, dur := n[1], n[2]/1e6
	rate := requests / dur
	t.Logf("wrk %ds, %d connections, one token: %.0f requests, %.0f req/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms; errors connect %v read %v write %v non-2xx %v timeout %v",
		secs, wrkConns, requests, rate, n[3]/1e3, n[4]/1e3, n[5]/1e3, n[6], n[7], n[8], n[9], n[10])
	if requests == 0 {
		t.Fatalf("wrk sent no request:\n%s", out)
	}
	for i, what := range []string{"connect", "read", "write", "non-2xx (429 included)", "timeout"} {
		if v := n[6+i]; v != 0 {
			t.Errorf("%v %s errors, want none", v, what)
		}
	}
	// The figure run is paced to about 1,000/s: far below means the client
	// or the machine could not keep the pace, and the figure does not say
	// what it claims. The short run in make test (under the race detector,
	// on a shared machine) holds the errors only.
	if *wrkDuration >= time.Minute && rate < 900 {
		t.Errorf("%.0f requests/s, want about 1,000 (the pace was not kept)", rate)
	}
}
