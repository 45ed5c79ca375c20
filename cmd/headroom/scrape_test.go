package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestScrapeCommand(t *testing.T) {
	page, err := os.ReadFile("../../collector/testdata/kafka_jmx_exporter-1.0.1_rules-jmx_exporter-kafka-2_0_0.prom")
	if err != nil {
		t.Fatal(err)
	}
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(page) }))
	defer good.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("x{ 1\n")) }))
	defer bad.Close()

	var out, errb bytes.Buffer
	if code := runScrape(&out, &errb, "kafka-jmx", "json", 5*time.Second, []string{good.URL}); code != 0 {
		t.Fatalf("good scrape exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"kind": "client_bytes"`) {
		t.Errorf("json output:\n%s", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := runScrape(&out, &errb, "kafka-jmx", "table", 5*time.Second, []string{good.URL, bad.URL}); code != 1 {
		t.Errorf("bad page exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), bad.URL) || !strings.Contains(errb.String(), "parse exposition") {
		t.Errorf("stderr does not name the error: %s", errb.String())
	}
	if code := runScrape(&out, &errb, "nope", "table", time.Second, []string{good.URL}); code != 2 {
		t.Errorf("unknown profile exit %d, want 2", code)
	}
}
