package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/store"
)

// testHTTP is the tests' client: no connection outlives a request, so
// none is left behind when the replicas stop (goleak).
var testHTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// opsToken is the operator token of the replicas' API in these tests.
const opsToken = "ops-secret"

// newCluster starts a kfake cluster that outlives the replicas of the
// test (cleanups run last first): a replica stopping still publishes.
func newCluster(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// haReplica is one in-process `headroom serve` of a pair.
type haReplica struct {
	url, dbPath string
	cancel      context.CancelFunc
	done        chan error
}

// startHAReplicas starts n replicas on the cluster, with the webhook open
// on loopback and an operator token.
func startHAReplicas(t *testing.T, bootstrap string, n int) []*haReplica {
	t.Helper()
	base, err := os.ReadFile("../config/testdata/good/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	var out []*haReplica
	for i := range n {
		dir := t.TempDir()
		r := &haReplica{dbPath: filepath.Join(dir, "h.db"), done: make(chan error, 1)}
		cfg := strings.Replace(string(base), "127.0.0.1:9092", bootstrap, 1) +
			"store: {path: " + r.dbPath + "}\n" +
			fmt.Sprintf("ha: {group_id: headroom, replica_id: r%d, session_timeout: 6s, lease: 1s}\n", i) +
			"alerting: {webhook: {insecure: true}}\n" +
			"api:\n  tokens: [{name: ops, role: operator, sha256: " + api.HashToken(opsToken) + "}]\n"
		file := filepath.Join(dir, "headroom.yml")
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.url = "http://" + l.Addr().String()
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		go func() {
			r.done <- Run(ctx, Options{ConfigFile: file, Listener: l, Grace: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
		}()
		out = append(out, r)
	}
	t.Cleanup(func() {
		for _, r := range out {
			r.cancel()
		}
		for _, r := range out {
			if err := <-r.done; err != nil {
				t.Errorf("replica %s: %v", r.url, err)
			}
		}
	})
	return out
}

// leaderOf waits until one of the replicas leads (real servers' status:
// the shared deadline wait), and returns it and the others.
func leaderOf(t *testing.T, rs []*haReplica) (*haReplica, []*haReplica) {
	t.Helper()
	var leader *haReplica
	var others []*haReplica
	testpeer.Eventually(t, "a replica that leads", 60*time.Second, func() bool {
		for i, r := range rs {
			var s struct{ Active, Writable bool }
			if resp, err := testHTTP.Get(r.url + StatusPath); err == nil {
				_ = json.NewDecoder(resp.Body).Decode(&s)
				resp.Body.Close()
			}
			if s.Active && s.Writable {
				leader, others = r, append(append([]*haReplica(nil), rs[:i]...), rs[i+1:]...)
				return true
			}
		}
		return false
	})
	return leader, others
}

// webhookBody is an Alertmanager version 4 payload, one group of firing
// alerts named by fingerprint.
func webhookBody(groupKey string, startsAt time.Time, fps ...string) string {
	var alerts []string
	for _, fp := range fps {
		alerts = append(alerts, fmt.Sprintf(`{"status":"firing","labels":{"alertname":"GroupSaturated","group":"%s"},"annotations":{},
"startsAt":%q,"endsAt":"0001-01-01T00:00:00Z","fingerprint":%q}`, fp, startsAt.UTC().Format(time.RFC3339Nano), fp))
	}
	return fmt.Sprintf(`{"version":"4","groupKey":%q,"status":"firing","receiver":"headroom","alerts":[%s]}`, groupKey, strings.Join(alerts, ","))
}

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readStore opens a replica's store beside the replica, for reading.
func readStore(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// publishedSteps waits until every key has a step record on the events
// topic, and returns stepRecords then. The active replica records a step
// in its store before it publishes it, so a store that shows a step does
// not mean the topic has it yet.
func publishedSteps(t *testing.T, bootstrap string, keys []string) map[string]int {
	t.Helper()
	var steps map[string]int
	// Real bytes: the replica's records through Kafka.
	testpeer.EventuallyNil(t, "the steps on the events topic", 30*time.Second, func() error {
		steps = stepRecords(t, bootstrap)
		for _, k := range keys {
			if steps[k] == 0 {
				return fmt.Errorf("no record of %s", k)
			}
		}
		return nil
	})
	return steps
}

// stepRecords counts, per step key (incident/<id>/<seq>), the step
// records on the events topic: a step written twice (an incident opened
// or played twice) shows as a count above one.
func stepRecords(t *testing.T, bootstrap string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics("_headroom_events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "_headroom_events")
	if err != nil {
		t.Fatal(err)
	}
	var end int64
	ends.Each(func(o kadm.ListedOffset) { end = o.Offset })
	out := map[string]int{}
	var next int64
	for next < end {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading the events topic: %v (at %d of %d)", err, next, end)
		}
		fs.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			var c store.Change
			if err := json.Unmarshal(r.Value, &c); err != nil {
				t.Errorf("record %d: %v", r.Offset, err)
				return
			}
			if c.Kind == store.ChangeIncidentStep {
				out[c.Key]++
			}
		})
	}
	return out
}

// Alert states delivered to a standby, and to both replicas at once, are
// handled once, by the active replica, and every replica holds the
// incidents; acknowledgements and approvals asked through a standby are
// performed by the active replica and answered through the topic.
func TestHAAlertLifecycleThroughEitherReplica(t *testing.T) {
	bootstrap := newCluster(t)
	rs := startHAReplicas(t, bootstrap, 2)
	leader, others := leaderOf(t, rs)
	standby := others[0]
	ldb, sdb := readStore(t, leader.dbPath), readStore(t, standby.dbPath)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

	// settled: every replica holds want incidents, each at least opened
	// and played (2 steps), and nothing is left unhandled.
	settled := func(want int) func() error {
		return func() error {
			for name, db := range map[string]*store.DB{"leader": ldb, "standby": sdb} {
				ins, err := db.Incidents(ctx, "")
				if err != nil {
					return err
				}
				if len(ins) != want {
					return fmt.Errorf("%s holds %d incidents", name, len(ins))
				}
				for _, in := range ins {
					if in.Version < 2 {
						return fmt.Errorf("%s: incident %d at version %d", name, in.ID, in.Version)
					}
				}
				if un, err := db.UnhandledNotifications(ctx, 10); err != nil || len(un) > 0 {
					return fmt.Errorf("%s: %d unhandled (%v)", name, len(un), err)
				}
			}
			return nil
		}
	}

	// Three alerts through the standby alone.
	if code, body := post(t, standby.url+WebhookPath, "", webhookBody("g1", t0, "a1", "a2", "a3")); code != 200 {
		t.Fatalf("webhook on the standby: %d %s", code, body)
	}
	// Real bytes: the webhook, then the events topic to both replicas.
	testpeer.EventuallyNil(t, "alerts through the standby handled", 30*time.Second, settled(3))

	// Three more delivered to both replicas at once, twice each, and the
	// first three again (Alertmanager's repeats).
	var wg sync.WaitGroup
	for range 2 {
		for _, r := range rs {
			for _, body := range []string{webhookBody("g2", t0, "b1", "b2", "b3"), webhookBody("g1", t0, "a1", "a2", "a3")} {
				wg.Go(func() {
					if code, msg := post(t, r.url+WebhookPath, "", body); code != 200 {
						t.Errorf("webhook on %s: %d %s", r.url, code, msg)
					}
				})
			}
		}
	}
	wg.Wait()
	// Real bytes: the webhooks, then the events topic to both replicas.
	testpeer.EventuallyNil(t, "alerts through both replicas handled", 30*time.Second, settled(6))

	// Each incident was opened once and played once cluster-wide.
	var keys []string
	for _, fp := range []string{"a1", "a2", "a3", "b1", "b2", "b3"} {
		for seq := 1; seq <= 2; seq++ {
			keys = append(keys, fmt.Sprintf("incident/%d/%d", store.IncidentID(fp, t0), seq))
		}
	}
	steps := publishedSteps(t, bootstrap, keys)
	for _, fp := range []string{"a1", "a2", "a3", "b1", "b2", "b3"} {
		id := store.IncidentID(fp, t0)
		for seq := 1; seq <= 2; seq++ {
			key := fmt.Sprintf("incident/%d/%d", id, seq)
			if steps[key] != 1 {
				t.Errorf("%s (%s, step %d): %d records, want 1", key, fp, seq, steps[key])
			}
		}
	}

	// Acknowledge through the standby and through the leader; approve
	// through the standby an incident with nothing to approve.
	a1, a2, a3 := store.IncidentID("a1", t0), store.IncidentID("a2", t0), store.IncidentID("a3", t0)
	for _, tc := range []struct {
		name     string
		via      *haReplica
		id       int64
		action   string
		code     int
		fromPeer bool
	}{
		{"acknowledge through the standby", standby, a1, "acknowledge", 200, true},
		{"acknowledge through the leader", leader, a2, "acknowledge", 200, false},
		{"approve through the standby, nothing pending", standby, a3, "approve", 409, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, fmt.Sprintf("%s/api/v1/alerts/%d/%s", tc.via.url, tc.id, tc.action), opsToken, "")
			if code != tc.code {
				t.Fatalf("%s: %d %s, want %d", tc.action, code, body, tc.code)
			}
			if tc.code != 200 {
				if !strings.Contains(body, "no action waiting for approval") {
					t.Errorf("refusal %s does not carry the active replica's reason", body)
				}
				return
			}
			var v api.IncidentView
			if err := json.Unmarshal([]byte(body), &v); err != nil || v.State != "acknowledged" {
				t.Errorf("answer %s (%v), want the incident acknowledged", body, err)
			}
			// Real bytes: the request and its answer through the events topic.
			testpeer.EventuallyNil(t, "acknowledgement on both replicas", 10*time.Second, func() error {
				for name, db := range map[string]*store.DB{"leader": ldb, "standby": sdb} {
					sts, err := db.IncidentSteps(ctx, tc.id)
					if err != nil || len(sts) != 3 {
						return fmt.Errorf("%s: %d steps (%v)", name, len(sts), err)
					}
					last := sts[2]
					if last.Action != "acknowledged" || last.Actor != "ops" || (last.Origin != "") != tc.fromPeer {
						return fmt.Errorf("%s: last step %+v", name, last)
					}
				}
				return nil
			})
		})
	}
	if steps := stepRecords(t, bootstrap); steps[fmt.Sprintf("incident/%d/3", a1)] != 1 || steps[fmt.Sprintf("incident/%d/3", a3)] != 0 {
		t.Errorf("acknowledgement recorded %d times, refused approval %d times; want 1 and 0",
			steps[fmt.Sprintf("incident/%d/3", a1)], steps[fmt.Sprintf("incident/%d/3", a3)])
	}
	if p, err := ldb.PendingAlertRequests(ctx); err != nil || len(p) != 0 {
		t.Errorf("requests left pending on the leader: %+v (%v)", p, err)
	}
}

// An alert state on the events topic that no leader handled (its receiver
// was a standby, or the leader stopped before handling it) is handled by
// the next replica to lead, once.
func TestHANewLeaderHandlesWhatWasLeft(t *testing.T) {
	bootstrap := newCluster(t)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	// The topics exist once a replica has started; this one stops before
	// anything is delivered.
	first := startHAReplicas(t, bootstrap, 1)
	leaderOf(t, first)
	first[0].cancel()
	if err := <-first[0].done; err != nil {
		t.Fatal(err)
	}
	first[0].done <- nil // for the cleanup

	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, fp := range []string{"left1", "left2"} {
		n := store.AlertNotification{Key: "k-" + fp, GroupKey: "g", Receiver: "headroom", Fingerprint: fp, Status: "firing",
			AlertName: "GroupSaturated", Labels: map[string]string{"alertname": "GroupSaturated", "group": fp},
			Annotations: map[string]string{}, StartsAt: t0, EndsAt: t0.Add(time.Hour), ReceivedAt: t0}
		c := store.NotificationChange(n, false)
		b, _ := json.Marshal(c)
		// Twice: a delivery that reached the topic through two replicas.
		for range 2 {
			if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "_headroom_events", Key: []byte(c.Key), Value: b}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	next := startHAReplicas(t, bootstrap, 1)
	leader, _ := leaderOf(t, next)
	db := readStore(t, leader.dbPath)
	ctx := context.Background()
	// Real bytes: the states left on the events topic, read by the new leader.
	testpeer.EventuallyNil(t, "the states left handled by the new leader", 30*time.Second, func() error {
		for _, fp := range []string{"left1", "left2"} {
			in, err := db.Incident(ctx, store.IncidentID(fp, t0))
			if err != nil || in.Version < 2 {
				return fmt.Errorf("%s: %+v (%v)", fp, in, err)
			}
		}
		if un, err := db.UnhandledNotifications(ctx, 10); err != nil || len(un) > 0 {
			return fmt.Errorf("%d unhandled (%v)", len(un), err)
		}
		return nil
	})
	var keys []string
	for _, fp := range []string{"left1", "left2"} {
		keys = append(keys, fmt.Sprintf("incident/%d/1", store.IncidentID(fp, t0)))
	}
	steps := publishedSteps(t, bootstrap, keys)
	for _, fp := range []string{"left1", "left2"} {
		if k := fmt.Sprintf("incident/%d/1", store.IncidentID(fp, t0)); steps[k] != 1 {
			t.Errorf("%s opened %d times, want once", fp, steps[k])
		}
	}
}
