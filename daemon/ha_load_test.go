package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/internal/testpeer"
)

// haLoad is how long TestHAAlertLoad feeds alerts, and haRate how many a
// minute: Alertmanager's webhook at that rate against two replicas behind
// one URL. The figure is five minutes at 10,000 a minute:
//
//	go test -run TestHAAlertLoad -ha.load 5m -ha.rate 10000 -v ./daemon
//
// make test runs the same code lighter (30 s at 2,000 a minute): under the
// race detector, with the other packages' tests on the same two cores, the
// replicas handle a few dozen alerts a second, and 10,000 a minute would
// measure the machine rather than lost or doubled alerts.
var (
	haLoad = flag.Duration("ha.load", 30*time.Second, "how long TestHAAlertLoad feeds Alertmanager")
	haRate = flag.Int("ha.rate", 2000, "alerts a minute TestHAAlertLoad feeds Alertmanager")
)

// flakyFront is the one URL in front of the replicas: it sends requests to
// them in turn, and every failEvery-th answer is lost after the replica
// handled the request (Alertmanager sees 502 and retries a delivery that
// was recorded). A lost answer is a fault this test cannot cause with the
// real network, hence this proxy.
type flakyFront struct {
	transport *http.Transport
	backends  []*httputil.ReverseProxy
	failEvery int64

	requests, lost atomic.Int64
	perBackend     []atomic.Int64
	alertStates    atomic.Int64 // alert states in the payloads forwarded
}

func newFlakyFront(t *testing.T, urls []string, failEvery int64) *flakyFront {
	f := &flakyFront{transport: &http.Transport{MaxIdleConnsPerHost: 64}, failEvery: failEvery, perBackend: make([]atomic.Int64, len(urls))}
	for _, u := range urls {
		target, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		p := httputil.NewSingleHostReverseProxy(target)
		p.Transport = f.transport
		f.backends = append(f.backends, p)
	}
	t.Cleanup(f.transport.CloseIdleConnections)
	return f
}

func (f *flakyFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.requests.Add(1)
	i := int(n % int64(len(f.backends)))
	f.perBackend[i].Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m struct{ Alerts []json.RawMessage }
	if json.Unmarshal(body, &m) == nil {
		f.alertStates.Add(int64(len(m.Alerts)))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if f.failEvery > 0 && n%f.failEvery == 0 {
		rec := httptest.NewRecorder()
		f.backends[i].ServeHTTP(rec, r)
		f.lost.Add(1)
		http.Error(w, "answer lost", http.StatusBadGateway)
		return
	}
	f.backends[i].ServeHTTP(w, r)
}

// metricValue sums the samples of a metric on a /metrics page.
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := testHTTP.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// TestHAAlertLoad: a real Alertmanager, fed haRate alerts a minute through
// its v2 API, sends its webhook to two replicas behind one URL that loses
// one answer in seven, so that Alertmanager retries deliveries already
// recorded. Its repeats are an hour apart, as in production (repeating
// every firing group each few seconds would be a load of its own). Every
// alert becomes exactly one incident, opened and played once
// cluster-wide: 0 lost, 0 handled twice.
func TestHAAlertLoad(t *testing.T) {
	bootstrap := newCluster(t)
	rs := startHAReplicas(t, bootstrap, 2)
	leader, _ := leaderOf(t, rs)
	front := newFlakyFront(t, []string{rs[0].url, rs[1].url}, 7)
	fsrv := httptest.NewServer(front)
	defer fsrv.Close()

	am := testpeer.Alertmanager(t, webhook.AlertmanagerRoute{URL: fsrv.URL + WebhookPath, GroupBy: []string{"alertname", "batch"},
		GroupWait: time.Second, GroupInterval: 5 * time.Second, RepeatInterval: time.Hour, NoResolved: true}.Config())

	// Feed: every 100 ms the alerts due by then, ten to a batch label (a
	// group of Alertmanager's).
	type amAlert struct {
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
		EndsAt   time.Time         `json:"endsAt"`
	}
	var sent int
	var postErrs []string
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	for now := range tick.C {
		el := now.Sub(start)
		if el > *haLoad {
			break
		}
		due := int(el.Seconds() * float64(*haRate) / 60)
		var batch []amAlert
		for ; sent < due; sent++ {
			batch = append(batch, amAlert{Labels: map[string]string{"alertname": "LoadTest", "batch": strconv.Itoa(sent / 10),
				"n": strconv.Itoa(sent), "group": "g" + strconv.Itoa(sent%50)}, StartsAt: now.UTC(), EndsAt: now.Add(time.Hour).UTC()})
		}
		if len(batch) == 0 {
			continue
		}
		b, _ := json.Marshal(batch)
		resp, err := testHTTP.Post(am.URL+"/api/v2/alerts", "application/json", bytes.NewReader(b))
		if err != nil {
			postErrs = append(postErrs, err.Error())
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			postErrs = append(postErrs, resp.Status)
		}
	}
	tick.Stop()
	feed := time.Since(start)
	if len(postErrs) > 0 {
		t.Fatalf("%d posts to Alertmanager failed, first: %s", len(postErrs), postErrs[0])
	}

	// Drain: every alert handled by the leader and on both replicas.
	ldb := readStore(t, leader.dbPath)
	ctx := context.Background()
	var got map[int]int
	drainStart := time.Now()
	// Real bytes: Alertmanager's deliveries, and the events topic through Kafka.
	testpeer.EventuallyNil(t, "every alert an incident on the leader", 5*time.Minute, func() error {
		ins, err := ldb.Incidents(ctx, "")
		if err != nil {
			return err
		}
		got = map[int]int{}
		for _, in := range ins {
			if n, err := strconv.Atoi(in.Labels["n"]); err == nil && in.Version >= 2 {
				got[n]++
			}
		}
		un, _ := ldb.UnhandledNotifications(ctx, 1)
		if len(got) != sent || len(un) != 0 {
			return fmt.Errorf("%d of %d alerts played, %d unhandled left", len(got), sent, len(un))
		}
		// A replica counts a batch handled once its steps are on the
		// events topic, after its store shows them.
		var handled float64
		for _, r := range rs {
			handled += metricValue(t, r.url+"/metrics", "headroom_alert_states_handled_total")
		}
		if int(handled) < sent {
			return fmt.Errorf("%v of %d alert states counted handled: the last steps are not published yet", handled, sent)
		}
		return nil
	})
	drain := time.Since(drainStart)

	var lost, twice int
	for n := range sent {
		switch c := got[n]; {
		case c == 0:
			lost++
		case c > 1:
			twice++
		}
	}
	// Cluster-wide: the step records of each incident on the events
	// topic, and what each replica says it handled.
	steps := stepRecords(t, bootstrap)
	var opened, playedTwice, openedTwice int
	for key, c := range steps {
		switch {
		case strings.HasSuffix(key, "/1"):
			opened++
			if c > 1 {
				openedTwice++
			}
		case strings.HasSuffix(key, "/2") && c > 1:
			playedTwice++
		}
	}
	var handled float64
	for _, r := range rs {
		handled += metricValue(t, r.url+"/metrics", "headroom_alert_states_handled_total")
	}
	var notifications int
	for _, r := range rs {
		ns, err := readStore(t, r.dbPath).AlertNotifications(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if notifications == 0 {
			notifications = len(ns)
		} else if len(ns) != notifications {
			t.Errorf("the replicas hold %d and %d alert states", notifications, len(ns))
		}
	}
	amSent := metricValue(t, am.URL+"/metrics", "alertmanager_notification_requests_total")
	amFailed := metricValue(t, am.URL+"/metrics", "alertmanager_notification_requests_failed_total")
	t.Logf("fed %d alerts in %s (%.0f/min); Alertmanager: %v webhook requests, %v failed (and retried); front: %d webhook requests (%d and %d per replica), %d answers lost, %d alert states delivered; replicas: %d distinct alert states, %v handled, %d incidents opened; lost %d, handled twice %d (opened twice %d, played twice %d); drained %s after the feed",
		sent, feed.Round(time.Millisecond), float64(sent)/feed.Minutes(), amSent, amFailed, front.requests.Load(), front.perBackend[1].Load(), front.perBackend[0].Load(),
		front.lost.Load(), front.alertStates.Load(), notifications, handled, opened, lost, twice, openedTwice, playedTwice, drain.Round(time.Millisecond))
	if lost != 0 || twice != 0 || openedTwice != 0 || playedTwice != 0 {
		t.Errorf("lost %d, twice %d, opened twice %d, played twice %d; want 0", lost, twice, openedTwice, playedTwice)
	}
	if opened != sent || int(handled) != sent || notifications != sent {
		t.Errorf("%d incidents opened, %v alert states handled, %d held; want %d each", opened, handled, notifications, sent)
	}
	if front.lost.Load() == 0 || front.alertStates.Load() <= int64(sent) {
		t.Errorf("no delivery was repeated (%d answers lost, %d states for %d alerts): the test did not exercise deduplication",
			front.lost.Load(), front.alertStates.Load(), sent)
	}
}
