package alerting

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// receiver checks callbacks the way the documented receiver does: HMAC-
// SHA256 of the raw body under the shared key, compared in constant time.
// It records which key, if any, signed each delivery.
type receiver struct {
	mu   sync.Mutex
	keys []string // candidate keys
	got  []string // the key that verified each delivery, or "unsigned"/"bad"
	auth []string // the Authorization header of each delivery
	seen chan struct{}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sig := r.Header.Get("X-Headroom-Signature-256")
	verdict := "unsigned"
	if sig != "" {
		verdict = "bad"
		for _, k := range rc.keys {
			m := hmac.New(sha256.New, []byte(k))
			m.Write(body)
			if hmac.Equal([]byte(sig), []byte("sha256="+hex.EncodeToString(m.Sum(nil)))) {
				verdict = k
			}
		}
	}
	rc.mu.Lock()
	rc.got = append(rc.got, verdict)
	rc.auth = append(rc.auth, r.Header.Get("Authorization"))
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	rc.seen <- struct{}{}
}

func (rc *receiver) deliveries() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.got...)
}

type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Callbacks are signed with the key in secret_file and carry the
// http_config's credentials; a reload reads a rotated key; a reload that
// cannot read the key keeps the previous one; a callback whose key was
// never readable sends nothing rather than sending unsigned; keys and
// tokens never reach the logs.
func TestCallbackSignatureAndRotation(t *testing.T) {
	const key1, key2, bearer = "callback-key-one-5521", "callback-key-two-8874", "chatops-bearer-3310"
	rc := &receiver{keys: []string{key1, key2}, seen: make(chan struct{}, 16)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	dir := t.TempDir()
	keyFile, tokFile := filepath.Join(dir, "callback-secret"), filepath.Join(dir, "token")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(keyFile, key1+"\n")
	write(tokFile, bearer)
	hc := promconfig.DefaultHTTPClientConfig
	hc.Authorization = &promconfig.Authorization{Type: "Bearer", CredentialsFile: tokFile}
	cfg := []config.CallbackConfig{{URL: srv.URL, HTTPConfig: hc, SecretFile: keyFile}}
	logs := &lockedLog{}
	cb := NewCallbacks(CallbackOptions{URLs: cfg, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cb.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	step := func() {
		cb.Step(store.Incident{ID: 1, AlertName: "GroupSaturated", State: StateFiring}, store.IncidentStep{At: time.Now(), Action: "opened"})
		select {
		case <-rc.seen:
		case <-time.After(10 * time.Second):
			t.Fatal("callback not delivered")
		}
	}
	step()
	write(keyFile, key2)
	cb.SetURLs(cfg)
	step()
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	cb.SetURLs(cfg)
	step()
	if got, want := rc.deliveries(), []string{key1, key2, key2}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("signed by %v, want %v", got, want)
	}
	rc.mu.Lock()
	for i, a := range rc.auth {
		if a != "Bearer "+bearer {
			t.Errorf("delivery %d: Authorization %q", i, a)
		}
	}
	rc.mu.Unlock()
	if !strings.Contains(logs.String(), "callback secret unreadable; keeping the previous one") {
		t.Fatalf("the unreadable key was not logged:\n%s", logs.String())
	}
	for _, s := range []string{key1, key2, bearer} {
		if strings.Contains(logs.String(), s) {
			t.Fatalf("logs contain %q:\n%s", s, logs.String())
		}
	}
}

func TestCallbackWithUnreadableKeySendsNothing(t *testing.T) {
	rc := &receiver{seen: make(chan struct{}, 16)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	keyFile := filepath.Join(t.TempDir(), "missing")
	cfg := []config.CallbackConfig{{URL: srv.URL, HTTPConfig: promconfig.DefaultHTTPClientConfig, SecretFile: keyFile}}
	attempts := make(chan struct{}, 100)
	cb := NewCallbacks(CallbackOptions{URLs: cfg, Sleep: func(ctx context.Context, d time.Duration) error {
		attempts <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cb.Run(ctx); close(done) }()
	cb.Step(store.Incident{ID: 1}, store.IncidentStep{At: time.Now()})
	select {
	case <-attempts: // the first attempt failed and the loop backs off
	case <-time.After(10 * time.Second):
		t.Fatal("no attempt")
	}
	cancel()
	<-done
	if got := rc.deliveries(); len(got) != 0 {
		t.Fatalf("delivered without a key: %v", got)
	}
	if p := cb.Pending()[srv.URL]; p != 1 {
		t.Fatalf("the step is not kept for a later key: pending %d", p)
	}
}

// A receiver checks a callback by computing the HMAC-SHA256 of the raw
// body with the shared key and comparing it, in constant time, with the
// X-Headroom-Signature-256 header, before decoding the body.
func ExampleSign() {
	key := []byte("the contents of secret_file")
	verify := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		m := hmac.New(sha256.New, key)
		m.Write(body)
		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
		if !hmac.Equal([]byte(r.Header.Get("X-Headroom-Signature-256")), []byte(want)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent) // then decode body as a CallbackEvent
	}
	body := []byte(`{"incident_id":1}`)
	for _, sig := range []string{Sign(key, body), Sign([]byte("another key"), body)} {
		req := httptest.NewRequest("POST", "/headroom", bytes.NewReader(body))
		req.Header.Set(SignatureHeader, sig)
		rec := httptest.NewRecorder()
		verify(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 204
	// 401
}
