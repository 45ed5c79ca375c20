package alerting

import (
	"bytes"
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
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/store"
)

// verdict checks a callback the way the documented receiver does: the
// HMAC-SHA256 of the raw body under a candidate key, compared in constant
// time. It returns the key that verified it, or "unsigned" or "bad".
func verdict(rq testpeer.Request, keys ...string) string {
	sig := rq.Header.Get("X-Headroom-Signature-256")
	if sig == "" {
		return "unsigned"
	}
	for _, k := range keys {
		m := hmac.New(sha256.New, []byte(k))
		m.Write(rq.Body)
		if hmac.Equal([]byte(sig), []byte("sha256="+hex.EncodeToString(m.Sum(nil)))) {
			return k
		}
	}
	return "bad"
}

// Callbacks are signed with the key in secret_file and carry the
// http_config's credentials; a reload reads a rotated key; a reload that
// cannot read the key keeps the previous one; a callback whose key was
// never readable sends nothing rather than sending unsigned; keys and
// tokens never reach the logs.
func TestCallbackSignatureAndRotation(t *testing.T) {
	const key1, key2, bearer = "callback-key-one-5521", "callback-key-two-8874", "chatops-bearer-3310"
	srv := testpeer.NewReceiver(t, false)
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
	logs := &testpeer.LogBuffer{}
	cb := newCallbacks(t, CallbackOptions{URLs: cfg, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	runCallbacks(t, cb)
	var got []string
	step := func() {
		cb.Step(store.Incident{ID: 1, AlertName: "GroupSaturated", State: StateFiring}, store.IncidentStep{At: time.Now(), Action: "opened"})
		rq := srv.NextAttempt(t)
		got = append(got, verdict(rq, key1, key2))
		if a := rq.Header.Get("Authorization"); a != "Bearer "+bearer {
			t.Errorf("delivery %d: Authorization %q", len(got), a)
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
	if want := []string{key1, key2, key2}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("signed by %v, want %v", got, want)
	}
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
	srv := testpeer.NewReceiver(t, false)
	keyFile := filepath.Join(t.TempDir(), "missing")
	cfg := []config.CallbackConfig{{URL: srv.URL, HTTPConfig: promconfig.DefaultHTTPClientConfig, SecretFile: keyFile}}
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	cb := newCallbacks(t, CallbackOptions{URLs: cfg, Clock: clk})
	runCallbacks(t, cb)
	cb.Step(store.Incident{ID: 1}, store.IncidentStep{At: time.Now()})
	<-clk.Timers() // the first attempt failed and the loop backs off
	if got := srv.Received(); len(got) != 0 {
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
