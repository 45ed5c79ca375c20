package lab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/internal/testpeer"
)

// TestKcatHeldToItsQuota: Debian's kcat (librdkafka, a client no one here
// wrote) produces through the lab as fast as its stdin feeds it, far above
// its quota. Over two quota windows (22 s, Kafka's default 11 × 1 s
// window) after the first has passed, the broker appends its bytes at the
// quota within 10%, the lab's metrics show its throttle time, and kcat
// delivers every message without an error (it exits 0 once its stdin
// closes and its queue drains).
//
// It runs in real time: librdkafka's clock is the wall clock.
func TestKcatHeldToItsQuota(t *testing.T) {
	t.Parallel()
	kcat := testpeer.LookPath(t, "kcat")
	const quota = 256 << 10 // bytes/s
	c := startLab(t, Config{Brokers: 1, Window: DefaultWindow, Projects: []Project{{Name: "kc", Quota: Rates{Produce: quota}}}})
	window := time.Duration(DefaultWindow.Samples) * DefaultWindow.SampleWindow

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-P",
		"-b", c.Bootstrap()[0], "-t", "kc.events", "-p", "0",
		"-X", "client.id=kc",
		// librdkafka asks the broker which versions it speaks (ApiVersions)
		// rather than assume an old broker.
		"-X", "api.version.request=true",
		"-X", "compression.codec=none",
		// Batches small against a window's worth of quota (2.8 MB), and a
		// queue small enough that stdin, not memory, absorbs the backlog.
		"-X", "batch.size=32768",
		"-X", "linger.ms=5",
		"-X", "queue.buffering.max.kbytes=512",
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr testpeer.LogBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kcat: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fed := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		line := append(bytes.Repeat([]byte{'x'}, 999), '\n')
		chunk := bytes.Repeat(line, 64)
		for {
			select {
			case <-stop:
				fed <- stdin.Close()
				return
			default:
			}
			if _, err := stdin.Write(chunk); err != nil {
				fed <- err
				return
			}
		}
	}()
	kcatDone := false
	defer func() {
		if !kcatDone {
			cancel()
			<-exited
		}
	}()

	// kcat (librdkafka) producing through the lab over real Kafka protocol.
	testpeer.EventuallyNil(t, "kcat throttled", 30*time.Second, func() error {
		if e := c.Enforcement()["kc"].Produce; e.Throttled == 0 {
			return errors.New("no throttled response yet")
		}
		return nil
	})
	hold(t, window) // past the first window, where a fresh sensor lets a burst through

	url := c.MetricsURLs()[0]
	topic := map[string]string{"topic": "kc.events"}
	a, _ := value(scrape(t, url), "kafka_server_brokertopicmetrics_bytesin_total", topic)
	start := time.Now()
	hold(t, 2*window)
	mfs := scrape(t, url)
	b, _ := value(mfs, "kafka_server_brokertopicmetrics_bytesin_total", topic)
	served := (b - a) / time.Since(start).Seconds()
	entity := map[string]string{"resource": "Produce", "clientId": "kc"}
	throttleAvg, _ := value(mfs, "kafka_server_quota_throttle_time", entity)
	throttleTotal, _ := value(mfs, "headroom_lab_quota_throttle_seconds_total", entity)
	delayed, _ := value(mfs, "headroom_lab_quota_throttled_bytes_total", map[string]string{"resource": "Produce", "clientId": "kc", "reason": "delayed"})
	var versions []string
	for _, m := range mfs["kafka_network_requestmetrics_requests_total"].GetMetric() {
		var req, ver string
		for _, l := range m.Label {
			switch l.GetName() {
			case "request":
				req = l.GetValue()
			case "version":
				ver = l.GetValue()
			}
		}
		if req == "Produce" {
			versions = append(versions, "v"+ver)
			if v, _ := strconv.Atoi(ver); v < produceClientThrottleVersion {
				t.Errorf("kcat produced with v%s, before KIP-219 (v%d): the mute is not what it saw", ver, produceClientThrottleVersion)
			}
		}
	}
	t.Logf("kcat served %.0f B/s over %s (quota %d, %.3f of it); Produce requests %v; throttle time: %.0f ms mean in the window, %.1f s in all; %.0f bytes delayed",
		served, 2*window, quota, served/quota, versions, throttleAvg, throttleTotal, delayed)
	if served < 0.9*quota || served > 1.1*quota {
		t.Errorf("kcat served %.0f B/s, want %d ±10%%", served, quota)
	}
	if throttleAvg <= 0 || throttleTotal <= 0 {
		t.Errorf("throttle time on the lab's metrics: %v ms mean, %v s total; want both > 0", throttleAvg, throttleTotal)
	}

	close(stop)
	if err := <-fed; err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("feed kcat: %v", err)
	}
	err = <-exited
	kcatDone = true
	// kcat reports failures on stderr ("% ERROR: ...", "% Delivery failed
	// ...") and counts failed deliveries in its exit status.
	if err != nil || strings.Contains(stderr.String(), "ERROR") || strings.Contains(stderr.String(), "failed") {
		t.Errorf("kcat: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
}
