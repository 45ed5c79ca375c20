package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/alerting/notifier"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "headroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

const samplePayload = `{
  "version": "4",
  "groupKey": "{}:{alertname=\"ProjectThrottled\"}",
  "truncatedAlerts": 0,
  "status": "firing",
  "receiver": "headroom",
  "groupLabels": {"alertname": "ProjectThrottled"},
  "commonLabels": {"alertname": "ProjectThrottled"},
  "commonAnnotations": {},
  "externalURL": "http://am:9093",
  "alerts": [
    {"status": "firing", "labels": {"alertname": "ProjectThrottled", "project": "checkout"},
     "annotations": {"summary": "checkout throttled"}, "startsAt": "2026-11-23T02:00:00Z",
     "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://headroom/explain", "fingerprint": "a1b2c3"}
  ]
}`

func TestReceiverAnswers(t *testing.T) {
	db := openStore(t)
	var fresh []Notification
	r, err := New(Options{
		Recorder: StoreRecorder{db}, Auth: Auth{BearerToken: "s3cret"}, MaxBodyBytes: 4096,
		OnFresh: func(ns []Notification) { fresh = append(fresh, ns...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Replace(samplePayload, `"summary": "checkout throttled"`, `"summary": "`+strings.Repeat("x", 5000)+`"`, 1)
	tests := []struct {
		name   string
		method string
		auth   string
		body   string
		code   int
		fresh  int
	}{
		{"no token", "POST", "", samplePayload, 401, 0},
		{"wrong token", "POST", "Bearer nope", samplePayload, 401, 0},
		{"basic instead of bearer", "POST", "Basic czNjcmV0OnMzY3JldA==", samplePayload, 401, 0},
		{"GET", "GET", "Bearer s3cret", "", 405, 0},
		{"not JSON", "POST", "Bearer s3cret", "{", 400, 0},
		{"wrong version", "POST", "Bearer s3cret", strings.Replace(samplePayload, `"version": "4"`, `"version": "3"`, 1), 400, 0},
		{"no fingerprint", "POST", "Bearer s3cret", strings.Replace(samplePayload, `"a1b2c3"`, `""`, 1), 400, 0},
		{"bad status", "POST", "Bearer s3cret", strings.Replace(samplePayload, `{"status": "firing", "labels"`, `{"status": "pending", "labels"`, 1), 400, 0},
		{"too big", "POST", "Bearer s3cret", big, 413, 0},
		{"accepted", "POST", "Bearer s3cret", samplePayload, 200, 1},
		{"duplicate", "POST", "Bearer s3cret", samplePayload, 200, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/webhook/alertmanager", strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tt.code, rec.Body)
			}
			if len(fresh) != tt.fresh {
				t.Fatalf("fresh notifications %d, want %d", len(fresh), tt.fresh)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["message"] == "" {
				t.Fatalf("answer is not a JSON message: %q", rec.Body)
			}
		})
	}
	got, err := db.AlertNotifications(context.Background(), "a1b2c3")
	if err != nil || len(got) != 1 || got[0].Deliveries != 2 {
		t.Fatalf("store holds %+v, %v; want one notification delivered twice", got, err)
	}
}

// failingRecorder stands in for a store whose disk write fails, a fault a
// test cannot cause reliably on a real file: the receiver must then refuse
// with 503 so that Alertmanager retries.
type failingRecorder struct{}

func (failingRecorder) Record(context.Context, []Notification) ([]Notification, error) {
	return nil, errors.New("disk full")
}

func TestReceiverRefusesWhenNotRecorded(t *testing.T) {
	r, err := New(Options{Recorder: failingRecorder{}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader(samplePayload)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("code %d, want 503", rec.Code)
	}
}

func TestBasicAuth(t *testing.T) {
	r, err := New(Options{Recorder: StoreRecorder{openStore(t)}, Auth: Auth{Username: "am", Password: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		user, pass string
		code       int
	}{{"am", "pw", 200}, {"am", "nope", 401}, {"", "", 401}} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(samplePayload))
		if tt.user != "" {
			req.SetBasicAuth(tt.user, tt.pass)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != tt.code {
			t.Errorf("%s/%s: code %d, want %d", tt.user, tt.pass, rec.Code, tt.code)
		}
		if tt.code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") {
			t.Errorf("401 without a Basic challenge")
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("no recorder accepted")
	}
	if _, err := New(Options{Recorder: failingRecorder{}, Auth: Auth{BearerToken: "a", Username: "b"}}); err == nil {
		t.Error("bearer and basic together accepted")
	}
}

func TestNotificationKey(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := notificationKey("g", "f", "firing", t0)
	for name, other := range map[string]string{
		"group":  notificationKey("h", "f", "firing", t0),
		"fp":     notificationKey("g", "e", "firing", t0),
		"status": notificationKey("g", "f", "resolved", t0),
		"start":  notificationKey("g", "f", "firing", t0.Add(time.Hour)),
		"joined": notificationKey("gf", "", "firing", t0),
	} {
		if other == base {
			t.Errorf("key ignores %s", name)
		}
	}
	if notificationKey("g", "f", "firing", t0.In(time.FixedZone("x", 3600))) != base {
		t.Error("key depends on the time zone")
	}
}

// TestRealAlertmanagerHAPairDeliversOnce runs two real Alertmanagers that
// both route to the receiver; the alert posted to both is recorded once.
func TestRealAlertmanagerHAPairDeliversOnce(t *testing.T) {
	db := openStore(t)
	var mu sync.Mutex
	var fresh []Notification
	r, err := New(Options{Recorder: StoreRecorder{db}, Auth: Auth{BearerToken: "t0ken"}, OnFresh: func(ns []Notification) {
		mu.Lock()
		defer mu.Unlock()
		fresh = append(fresh, ns...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()

	amCfg := AlertmanagerRoute{URL: srv.URL + "/webhook/alertmanager", BearerToken: "t0ken",
		GroupBy: []string{"alertname"}, GroupWait: 100 * time.Millisecond, GroupInterval: time.Second}.Config()
	a, b := testpeer.Alertmanager(t, amCfg), testpeer.Alertmanager(t, amCfg)

	n, err := notifier.New(notifier.Options{Alertmanagers: config.URLs(a.URL, b.URL)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	n.Send(notifier.Alert{
		Labels:   map[string]string{"alertname": "GroupSaturated", "group": "events"},
		StartsAt: start, EndsAt: time.Now().Add(time.Hour),
	})
	// Real Alertmanagers deliver to the webhook over real HTTP.
	var got []store.AlertNotification
	testpeer.Eventually(t, "one notification delivered by both Alertmanagers", 30*time.Second, func() bool {
		var err error
		got, err = db.AlertNotifications(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		return len(got) == 1 && got[0].Deliveries >= 2
	})
	if got[0].Status != "firing" || got[0].Labels["group"] != "events" || !got[0].StartsAt.Equal(start.UTC()) {
		t.Fatalf("recorded %+v", got[0])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fresh) != 1 {
		t.Fatalf("handled %d times, want exactly once", len(fresh))
	}
}

// TestAlertmanagerRouteConfig: each form of the route is a configuration
// amtool accepts, and the common one reads as written out by hand.
func TestAlertmanagerRouteConfig(t *testing.T) {
	const wantBearer = `route:
  receiver: headroom
  group_by: [alertname, cluster, group]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: headroom
    webhook_configs:
      - url: http://127.0.0.1:9/webhook/alertmanager
        send_resolved: true
        http_config:
          authorization: {type: Bearer, credentials: s3cret}
`
	tokenFile := testpeer.WriteFile(t, "token", "s3cret\n")
	for _, tc := range []struct {
		name  string
		route AlertmanagerRoute
		want  []string // lines the text must hold
	}{
		{"bearer token", AlertmanagerRoute{URL: "http://127.0.0.1:9/webhook/alertmanager", BearerToken: "s3cret",
			GroupBy: []string{"alertname", "cluster", "group"}, GroupInterval: time.Second, RepeatInterval: time.Hour},
			[]string{"credentials: s3cret}", "repeat_interval: 1h", "group_wait: 0s"}},
		{"token file", AlertmanagerRoute{URL: "http://127.0.0.1:9/hook", BearerTokenFile: tokenFile,
			GroupBy: []string{"alertname"}, GroupWait: time.Second, GroupInterval: 5 * time.Second, RepeatInterval: time.Hour},
			[]string{"credentials_file: " + tokenFile + "}", "group_interval: 5s"}},
		{"no auth, no resolved", AlertmanagerRoute{URL: "http://127.0.0.1:9/hook", GroupBy: []string{"alertname", "batch"},
			GroupWait: 100 * time.Millisecond, GroupInterval: time.Second, NoResolved: true},
			[]string{"send_resolved: false", "group_wait: 100ms", "group_by: [alertname, batch]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.route.Config()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("configuration lacks %q:\n%s", w, text)
				}
			}
			if tc.route.BearerToken == "" && tc.route.BearerTokenFile == "" && strings.Contains(text, "authorization") {
				t.Errorf("configuration has an authorization without credentials:\n%s", text)
			}
			if tc.route.RepeatInterval == 0 && strings.Contains(text, "repeat_interval") {
				t.Errorf("configuration sets repeat_interval it was not given:\n%s", text)
			}
			if out, err := testpeer.Amtool(t, "check-config", testpeer.WriteFile(t, "am.yml", text)); err != nil {
				t.Fatalf("amtool check-config: %v\n%s\n%s", err, out, text)
			}
		})
	}
	got := AlertmanagerRoute{URL: "http://127.0.0.1:9/webhook/alertmanager", BearerToken: "s3cret",
		GroupBy: []string{"alertname", "cluster", "group"}, GroupInterval: time.Second, RepeatInterval: time.Hour}.Config()
	if got != wantBearer {
		t.Errorf("configuration:\n%s\nwant:\n%s", got, wantBearer)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(samplePayload))
	f.Add([]byte(`{"version":"4","groupKey":"g","alerts":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, err := Decode(b, time.Unix(0, 0))
		if err != nil {
			return
		}
		if len(ns) == 0 {
			t.Fatal("decoded a payload without alerts")
		}
		for _, n := range ns {
			if n.Key == "" || n.Fingerprint == "" || (n.Status != "firing" && n.Status != "resolved") {
				t.Fatalf("invalid notification accepted: %+v", n)
			}
		}
	})
}

// acceptingRecorder records nothing and reports every notification as a
// duplicate: for tests about authentication only.
type acceptingRecorder struct{}

func (acceptingRecorder) Record(context.Context, []Notification) ([]Notification, error) {
	return nil, nil
}

func TestSetAuth(t *testing.T) {
	r, err := New(Options{Recorder: acceptingRecorder{}, Auth: Auth{BearerToken: "old"}})
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(tok string) func(*http.Request) {
		return func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+tok) }
	}
	basic := func(u, p string) func(*http.Request) {
		return func(req *http.Request) { req.SetBasicAuth(u, p) }
	}
	none := func(*http.Request) {}
	tests := []struct {
		name      string
		set       *Auth // nil: keep
		wantErr   bool
		cred      func(*http.Request)
		code      int
		challenge string
	}{
		{"initial token", nil, false, bearer("old"), 200, ""},
		{"rotated: new token", &Auth{BearerToken: "new"}, false, bearer("new"), 200, ""},
		{"rotated: old token refused", nil, false, bearer("old"), 401, "Bearer"},
		{"both refused, token stays", &Auth{BearerToken: "x", Username: "am"}, true, bearer("new"), 200, ""},
		{"to basic", &Auth{Username: "am", Password: "pw"}, false, basic("am", "pw"), 200, ""},
		{"basic: token refused", nil, false, bearer("new"), 401, "Basic"},
		{"basic: no credentials", nil, false, none, 401, "Basic"},
		{"to open", &Auth{}, false, none, 200, ""},
	}
	for _, tt := range tests {
		if tt.set != nil {
			if err := r.SetAuth(*tt.set); (err != nil) != tt.wantErr {
				t.Fatalf("%s: SetAuth error %v, want error %v", tt.name, err, tt.wantErr)
			}
		}
		req := httptest.NewRequest("POST", "/", strings.NewReader(samplePayload))
		tt.cred(req)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != tt.code {
			t.Errorf("%s: code %d, want %d", tt.name, rec.Code, tt.code)
		}
		if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.challenge) || (tt.challenge == "") != (got == "") {
			t.Errorf("%s: challenge %q, want %q", tt.name, got, tt.challenge)
		}
	}
}

// TestSetAuthConcurrent rotates between two tokens while requests run: each
// request is admitted only with one of them, never without a token.
func TestSetAuthConcurrent(t *testing.T) {
	r, err := New(Options{Recorder: acceptingRecorder{}, Auth: Auth{BearerToken: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, tok := range []string{"a", "b", ""} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				req := httptest.NewRequest("POST", "/", strings.NewReader(samplePayload))
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				rec := httptest.NewRecorder()
				r.ServeHTTP(rec, req)
				if rec.Code != 200 && rec.Code != 401 || tok == "" && rec.Code != 401 {
					t.Errorf("token %q: code %d", tok, rec.Code)
					return
				}
			}
		}()
	}
	for i := range 200 {
		if err := r.SetAuth(Auth{BearerToken: []string{"a", "b"}[i%2]}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}
