package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/ha"
	"github.com/headroomhq/headroom/internal/testpeer"
)

// The fault test's settings. kfake's smallest session timeout is 6s.
const (
	haSession  = 6 * time.Second
	haLease    = 3 * time.Second
	haKills    = 5
	haFailover = 15 * time.Second
)

// haReplica is one `headroom serve` process of the fault test.
type haReplica struct {
	name, url, listen, config, store, log string
	cmd                                   *exec.Cmd
}

// TestHAFailover runs `headroom lab` and three `headroom serve` replicas on
// it as real processes and SIGKILLs the active replica in the middle of a
// round, haKills times. After each kill: another replica writes quotas
// within haFailover; the intents the lab's Kafka recorded show no write
// authorised to the old leader after the new leader's first; every
// override and audit record made (through standbys' APIs) before the kill
// is on every replica; the new leader resumed the detector from the saved
// state. The killed replica comes back with its local store deleted and
// rebuilds it from the state topics. Then: a standby killed changes
// nothing; all replicas restarted with their stores deleted come back with
// every override and audit record; status, metrics and both reverts.
func TestHAFailover(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()

	// The lab: one broker, two projects whose demand moves fast enough
	// (an hour of the scenario per second) and no hysteresis, so that every
	// round writes: the pool reshuffles the whole capacity with demand.
	addrFile := filepath.Join(dir, "addrs.json")
	labCmd := exec.CommandContext(ctx, headroomBin, "lab", "--scenario", "../../simulations/scenarios/vivo-two-projects.yaml",
		"--addresses-file", addrFile, "--scale", "0.005", "--time-compression", "3600")
	labLog, err := os.Create(filepath.Join(dir, "lab.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer labLog.Close()
	labCmd.Stdout, labCmd.Stderr = labLog, labLog
	if err := labCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = labCmd.Process.Signal(syscall.SIGINT); _ = labCmd.Wait() }()
	var addrs struct {
		Bootstrap []string          `json:"bootstrap"`
		Metrics   map[string]string `json:"metrics"`
	}
	// Real peer: the `headroom lab` process writes this file once its Kafka listens.
	testpeer.Eventually(t, "the lab's addresses", 30*time.Second, func() bool {
		b, err := os.ReadFile(addrFile)
		return err == nil && json.Unmarshal(b, &addrs) == nil
	})

	const operator, admin = "op-secret", "admin-secret"
	newReplica := func(i int) *haReplica {
		r := &haReplica{name: fmt.Sprintf("r%d", i), listen: freeAddr(t)}
		r.url = "http://" + r.listen
		r.config = filepath.Join(dir, r.name+".yml")
		r.store = filepath.Join(dir, r.name, "headroom.db")
		r.log = filepath.Join(dir, r.name+".log")
		cfg := fmt.Sprintf(`global: {round_interval: 1s}
clusters:
  - name: lab
    bootstrap_servers: [%s]
resource_groups:
  - name: vivo
    margin: 1
    capacity: {produce: 500000B/s, fetch: 1000000B/s}
    brokers: [{id: 0, metrics_url: %q}]
projects:
  - {name: a, group: vivo, entity: {client_id: a}, topics: {prefixes: [a.events]}, produce: {share: 250000B/s}, fetch: {share: 500000B/s}}
  - {name: b, group: vivo, entity: {client_id: b}, topics: {prefixes: [b.events]}, produce: {share: 250000B/s}, fetch: {share: 500000B/s}}
collector: {scrape_timeout: 500ms}
limiter: {mode: enforce, hysteresis: 0}
api:
  tokens:
    - {name: ops, role: operator, sha256: %s}
    - {name: root, role: admin, sha256: %s}
store: {path: %q}
ha:
  group_id: headroom-fault-test
  replica_id: %s
  session_timeout: %s
  lease: %s
`, strings.Join(addrs.Bootstrap, ", "), addrs.Metrics["0"], api.HashToken(operator), api.HashToken(admin), r.store, r.name, haSession, haLease)
		if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return r
	}
	start := func(r *haReplica) {
		f, err := os.OpenFile(r.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		r.cmd = exec.Command(headroomBin, "serve", "--config.file", r.config, "--web.listen-address", r.listen)
		r.cmd.Stdout, r.cmd.Stderr = f, f
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	var replicas []*haReplica
	for i := range 3 {
		r := newReplica(i)
		start(r)
		replicas = append(replicas, r)
	}
	defer func() {
		for _, r := range replicas {
			if r.cmd != nil && r.cmd.ProcessState == nil {
				_ = r.cmd.Process.Signal(syscall.SIGTERM)
				_ = r.cmd.Wait()
			}
		}
		if t.Failed() {
			for _, r := range replicas {
				b, _ := os.ReadFile(r.log)
				t.Logf("%s log (last 4000 bytes):\n%s", r.name, tail(b, 4000))
			}
		}
	}()
	for _, r := range replicas {
		// Real peer: a `headroom serve` process is ready once it has read the lab's state topics.
		testpeer.Eventually(t, r.name+" ready", 60*time.Second, func() bool { return get(r.url+"/-/ready", "") == http.StatusOK })
	}

	// Every intent the cluster committed, in commit order.
	intents := watchIntents(t, ctx, addrs.Bootstrap, "_headroom_control")

	byName := map[string]*haReplica{}
	for _, r := range replicas {
		byName[r.name] = r
	}
	version := map[string]int{}
	audits := 0
	var failovers []time.Duration
	for kill := range haKills {
		// The leader is whoever commits intents for writes.
		in := intents.next(t, ctx, 60*time.Second, func(in ha.Intent) bool { return in.Round >= 0 })
		old := byName[in.Replica]
		// An override through a standby's API, before the kill.
		var standby *haReplica
		for _, r := range replicas {
			if r != old {
				standby = r
				break
			}
		}
		project := []string{"a", "b"}[kill%2]
		code := putOverride(t, standby.url, operator, project, version[project], fmt.Sprintf("kill %d", kill))
		if code != http.StatusOK {
			t.Fatalf("override through standby %s: %d", standby.name, code)
		}
		version[project]++
		audits++
		// Kill the leader right after its next intent: in the middle of
		// a round, between the intent and its writes.
		intents.next(t, ctx, 30*time.Second, func(in ha.Intent) bool { return in.Replica == old.name && in.Round >= 0 })
		if err := old.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		_ = old.cmd.Wait()
		var survivors []*haReplica
		for _, r := range replicas {
			if r != old {
				survivors = append(survivors, r)
			}
		}
		sizes := map[string]int64{}
		for _, r := range survivors {
			sizes[r.name] = fileSize(t, r.log)
		}
		// The new leader's first intent for writes, and its first round
		// that wrote quotas.
		first := intents.next(t, ctx, 2*haFailover, func(in ha.Intent) bool { return in.Round >= 0 && in.Replica != old.name })
		next := byName[first.Replica]
		var wrote time.Time
		// Real peer: the new leader's log says so once its round has written to the lab's Kafka.
		testpeer.Eventually(t, next.name+" writes quotas", 2*haFailover, func() bool {
			wrote = firstLogTime(t, next.log, sizes[next.name], `msg="quotas written"`)
			return !wrote.IsZero()
		})
		d := wrote.Sub(killed)
		failovers = append(failovers, d)
		t.Logf("kill %d: %s killed, %s wrote quotas %s later (first intent %s after the kill)", kill, old.name, next.name,
			d.Round(time.Millisecond), first.At.Sub(killed).Round(time.Millisecond))
		if d > haFailover {
			t.Errorf("kill %d: the new leader wrote %s after the kill, over %s", kill, d, haFailover)
		}
		// Fencing, as the cluster recorded it: after the new leader's
		// first intent, no intent of the old leader; and the new leader's
		// first permit begins a lease after the old leader's last intent.
		if late := intents.after(first, old.name); len(late) > 0 {
			t.Errorf("kill %d: intents of the old leader %s after the new leader's first: %+v", kill, old.name, late)
		}
		if last, ok := intents.lastOf(old.name, first); ok {
			if first.At.Sub(last.At) < haLease {
				t.Errorf("kill %d: new leader's first intent %s only %s after the old leader's last (%s): permits may overlap",
					kill, first.At, first.At.Sub(last.At), last.At)
			}
			// The ledger is replicated: the new leader numbers its rounds
			// on from those its predecessor recorded.
			if first.Round < last.Round {
				t.Errorf("kill %d: new leader's first round %d, before the old leader's %d", kill, first.Round, last.Round)
			}
		}
		// Forecasts continue: the new leader resumed the detector from the
		// state its predecessor saved.
		rest := readFrom(t, next.log, sizes[next.name])
		if !strings.Contains(rest, `msg="detector resumed from the store"`) || strings.Contains(rest, "detector starts afresh") {
			t.Errorf("kill %d: %s did not resume the detector from the saved state:\n%s", kill, next.name, tail([]byte(rest), 3000))
		}
		// The killed replica returns with its local store deleted.
		if err := os.RemoveAll(filepath.Dir(old.store)); err != nil {
			t.Fatal(err)
		}
		start(old)
		// Real peer: the restarted process is ready once it has caught up on the state topics.
		testpeer.Eventually(t, old.name+" ready again", 60*time.Second, func() bool { return get(old.url+"/-/ready", "") == http.StatusOK })
		// No override or audit record lost, on any replica.
		for _, r := range replicas {
			for p, v := range version {
				// Real peer: overrides reach each replica through the lab's Kafka state topics.
				testpeer.Eventually(t, fmt.Sprintf("%s has override %s at version %d", r.name, p, v), 30*time.Second, func() bool {
					return overrideVersion(r.url, operator, p) == v
				})
			}
			if n := auditCount(t, r.url, admin); n != audits {
				t.Errorf("kill %d: %s holds %d audit records, want %d", kill, r.name, n, audits)
			}
		}
	}
	// A standby killed changes nothing: the leader keeps its epoch and
	// goes on writing.
	cur := intents.next(t, ctx, 30*time.Second, func(in ha.Intent) bool { return in.Round >= 0 })
	for _, r := range replicas {
		if r.name == cur.Replica {
			continue
		}
		if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = r.cmd.Wait()
		// Past the dead standby's session timeout and the rebalance
		// that follows it, the same leader still writes under the same
		// epoch, and no other replica took over.
		deadline := time.Now().Add(haSession + 3*time.Second)
		for {
			in := intents.next(t, ctx, 30*time.Second, func(in ha.Intent) bool { return true })
			if in.Replica != cur.Replica || in.Epoch != cur.Epoch {
				t.Errorf("after a standby was killed, intent %+v, want only %s under epoch %d", in, cur.Replica, cur.Epoch)
			}
			if in.At.After(deadline) {
				break
			}
		}
		start(r)
		// Real peer: the restarted process is ready once it has caught up on the state topics.
		testpeer.Eventually(t, r.name+" ready again", 60*time.Second, func() bool { return get(r.url+"/-/ready", "") == http.StatusOK })
		break
	}

	// Every replica restarted with its local store deleted: the state
	// comes back from the topics alone.
	for _, r := range replicas {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		_ = r.cmd.Wait()
		if err := os.RemoveAll(filepath.Dir(r.store)); err != nil {
			t.Fatal(err)
		}
	}
	sizes := map[string]int64{}
	for _, r := range replicas {
		sizes[r.name] = fileSize(t, r.log)
		start(r)
	}
	for _, r := range replicas {
		// Real peer: each process is ready once it has read the state topics back.
		testpeer.Eventually(t, r.name+" ready after the full restart", 60*time.Second, func() bool { return get(r.url+"/-/ready", "") == http.StatusOK })
	}
	back := intents.next(t, ctx, 2*haFailover, func(in ha.Intent) bool { return in.Round >= 0 })
	for _, r := range replicas {
		for p, v := range version {
			if got := overrideVersion(r.url, operator, p); got != v {
				t.Errorf("after the full restart %s has override %s at version %d, want %d", r.name, p, got, v)
			}
		}
		if n := auditCount(t, r.url, admin); n != audits {
			t.Errorf("after the full restart %s holds %d audit records, want %d", r.name, n, audits)
		}
	}
	if rest := readFrom(t, byName[back.Replica].log, sizes[back.Replica]); !strings.Contains(rest, `msg="detector resumed from the store"`) {
		t.Errorf("after the full restart the leader %s did not resume the detector", back.Replica)
	}

	// Status: exactly one replica leads, and every replica names it; the
	// metrics say the same.
	leader := ""
	// Real peers: the election runs through the lab's Kafka group protocol.
	testpeer.Eventually(t, "one leader named by every replica", 30*time.Second, func() bool {
		active, named := 0, map[string]bool{}
		for _, r := range replicas {
			var s struct {
				Mode, Replica, Leader string
				Active                bool
			}
			if getJSON(r.url+"/api/v1/status", &s) != nil || s.Mode != "replicated" {
				return false
			}
			if s.Active {
				active++
				leader = s.Replica
			}
			named[s.Leader] = true
		}
		return active == 1 && len(named) == 1 && named[leader]
	})
	for _, r := range replicas {
		want := "headroom_leader 0"
		if r.name == leader {
			want = "headroom_leader 1"
		}
		if m := getText(t, r.url+"/metrics"); !strings.Contains(m, want+"\n") || !strings.Contains(m, "headroom_state_lag_records ") {
			t.Errorf("%s metrics lack %q or the state lag", r.name, want)
		}
	}
	out, err := exec.Command(headroomBin, "ctl", "--api.url", byName[leader].url, "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), leader) {
		t.Errorf("ctl status: %v\n%s", err, out)
	}

	// A way off. Straight to the cluster while replicas run: refused.
	out, err = exec.Command(headroomBin, "ctl", "revert", "--to", "shares", "--direct", "--config.file", replicas[0].config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "replicas are in group") {
		t.Errorf("revert --direct with replicas running: %v\n%s", err, out)
	}
	// Through a standby's API: the active replica writes every share.
	var standby *haReplica
	for _, r := range replicas {
		if r.name != leader {
			standby = r
		}
	}
	shares := map[string][2]float64{"a": {250000, 500000}, "b": {250000, 500000}}
	cmd := exec.Command(headroomBin, "ctl", "--api.url", standby.url, "revert", "--to", "shares")
	cmd.Env = append(os.Environ(), "HEADROOM_API_TOKEN="+operator)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ctl revert --to shares: %v\n%s", err, out)
	}
	// Real peer: the active replica writes the shares to the lab's Kafka.
	testpeer.EventuallyNil(t, "the lab holds every share", 30*time.Second, func() error {
		if labHolds(ctx, addrs.Bootstrap, shares) {
			return nil
		}
		return fmt.Errorf("lab quotas: %v", labQuotas(ctx, addrs.Bootstrap))
	})

	// Every replica stopped: straight to the cluster, after something
	// else moved the quotas.
	for _, r := range replicas {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		_ = r.cmd.Wait()
	}
	setLabQuotas(t, ctx, addrs.Bootstrap, map[string][2]float64{"a": {111111, 222222}, "b": {333333, 444444}})
	if out, err := exec.Command(headroomBin, "ctl", "revert", "--to", "shares", "--direct", "--config.file", replicas[0].config).CombinedOutput(); err != nil {
		t.Fatalf("revert --direct with no replica: %v\n%s", err, out)
	}
	if !labHolds(ctx, addrs.Bootstrap, shares) {
		t.Errorf("after revert --direct the lab does not hold every share")
	}

	slices.Sort(failovers)
	t.Logf("failover (kill to the new leader's first round with writes) over %d kills: min %s, median %s, max %s",
		len(failovers), failovers[0].Round(time.Millisecond), failovers[len(failovers)/2].Round(time.Millisecond), failovers[len(failovers)-1].Round(time.Millisecond))
}

// intentLog follows the control topic.
type intentLog struct {
	mu   sync.Mutex
	all  []ha.Intent
	seen int // intents next has returned or skipped
	more chan struct{}
}

func watchIntents(t *testing.T, ctx context.Context, seeds []string, topic string) *intentLog {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	l := &intentLog{more: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				var in ha.Intent
				if json.Unmarshal(r.Value, &in) == nil && in.Round != ha.ProbeRound {
					l.mu.Lock()
					l.all = append(l.all, in)
					close(l.more)
					l.more = make(chan struct{})
					l.mu.Unlock()
				}
			})
		}
	}()
	t.Cleanup(func() { cl.Close(); <-done })
	return l
}

// next returns the first intent not returned yet that satisfies ok,
// skipping the others.
func (l *intentLog) next(t *testing.T, ctx context.Context, limit time.Duration, ok func(ha.Intent) bool) ha.Intent {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		l.mu.Lock()
		for l.seen < len(l.all) {
			in := l.all[l.seen]
			l.seen++
			if ok(in) {
				l.mu.Unlock()
				return in
			}
		}
		ch := l.more
		l.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("no intent as expected within %s", limit)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

// after returns the intents of replica committed after first.
func (l *intentLog) after(first ha.Intent, replica string) []ha.Intent {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.Index(l.all, first)
	var out []ha.Intent
	for _, in := range l.all[i+1:] {
		if in.Replica == replica {
			out = append(out, in)
		}
	}
	return out
}

// lastOf returns replica's last intent before first.
func (l *intentLog) lastOf(replica string, first ha.Intent) (ha.Intent, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.Index(l.all, first)
	for j := i - 1; j >= 0; j-- {
		if l.all[j].Replica == replica {
			return l.all[j], true
		}
	}
	return ha.Intent{}, false
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(url, token string) int {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func putOverride(t *testing.T, base, token, project string, version int, reason string) int {
	body := fmt.Sprintf(`{"produce":{"weight":%d},"reason":%q}`, version+2, reason)
	req, _ := http.NewRequest("PUT", base+"/api/v1/overrides/project/"+project, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if version > 0 {
		req.Header.Set("If-Match", fmt.Sprintf(`"v%d"`, version))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Logf("PUT override %s: %d %s", project, resp.StatusCode, b)
	}
	return resp.StatusCode
}

func overrideVersion(base, token, project string) int {
	req, _ := http.NewRequest("GET", base+"/api/v1/overrides/project/"+project, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var o struct {
		Version int `json:"version"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&o) != nil {
		return -1
	}
	return o.Version
}

func auditCount(t *testing.T, base, token string) int {
	req, _ := http.NewRequest("GET", base+"/api/v1/audit?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("audit: %v: %s", err, b)
	}
	switch x := v.(type) {
	case []any:
		return len(x)
	case map[string]any:
		for _, k := range []string{"records", "audit", "items"} {
			if a, ok := x[k].([]any); ok {
				return len(a)
			}
		}
	}
	t.Fatalf("audit: unexpected body %s", b)
	return 0
}

func fileSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func readFrom(t *testing.T, path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	return string(b[off:])
}

// firstLogTime returns the time of the first line after off that
// contains what (slog's text format: time=... first), or zero.
func firstLogTime(t *testing.T, path string, off int64, what string) time.Time {
	sc := bufio.NewScanner(strings.NewReader(readFrom(t, path, off)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, what) {
			continue
		}
		ts, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		ts, _, _ = strings.Cut(ts, " ")
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return at
		}
	}
	return time.Time{}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.ToValidUTF8(b, nil))
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func getText(t *testing.T, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// labHolds says whether the lab's client quotas are want (client id ->
// produce, fetch).
func labHolds(ctx context.Context, seeds []string, want map[string][2]float64) bool {
	got := labQuotas(ctx, seeds)
	for id, w := range want {
		if got[id] != w {
			return false
		}
	}
	return true
}

// labQuotas reads the lab's client-id quotas: produce, fetch.
func labQuotas(ctx context.Context, seeds []string) map[string][2]float64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil
	}
	defer cl.Close()
	qs, err := kadm.NewClient(cl).DescribeClientQuotas(ctx, false, nil)
	if err != nil {
		return nil
	}
	got := map[string][2]float64{}
	for _, q := range qs {
		if len(q.Entity) != 1 || q.Entity[0].Type != "client-id" || q.Entity[0].Name == nil {
			continue
		}
		var v [2]float64
		for _, kv := range q.Values {
			switch kv.Key {
			case "producer_byte_rate":
				v[0] = kv.Value
			case "consumer_byte_rate":
				v[1] = kv.Value
			}
		}
		got[*q.Entity[0].Name] = v
	}
	return got
}

func setLabQuotas(t *testing.T, ctx context.Context, seeds []string, qs map[string][2]float64) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var es []kadm.AlterClientQuotaEntry
	for id, v := range qs {
		id := id
		es = append(es, kadm.AlterClientQuotaEntry{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &id}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: v[0]}, {Key: "consumer_byte_rate", Value: v[1]}}})
	}
	res, err := kadm.NewClient(cl).AlterClientQuotas(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if !labHolds(ctx, seeds, qs) {
		t.Fatal("the lab did not take the quotas")
	}
}
