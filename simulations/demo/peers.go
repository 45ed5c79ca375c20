package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/headroomhq/headroom/alerting/webhook"
)

// Binaries of the Debian packages (scripts/setup.sh installs them). The
// demo starts whichever is on PATH; none is required.
const (
	alertmanagerBinary = "prometheus-alertmanager"
	prometheusBinary   = "prometheus"
)

// peer is an optional Prometheus-ecosystem process the demo started.
type peer struct {
	name, url string
	cmd       *exec.Cmd
	done      chan error
}

// stop ends the process with SIGTERM, and kills it if it lingers.
func (p *peer) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for a peer whose address must be in Headroom's configuration before
// it starts.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startPeer runs binary with args and waits until GET url/-/ready answers
// 200. Output goes to logFile.
func startPeer(ctx context.Context, name, binary, addr, logFile string, args []string) (*peer, error) {
	log, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &peer{name: name, url: "http://" + addr, cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); log.Close() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("start %s: it exited (%v); see %s", name, err, logFile)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("start %s: not ready within 20s; see %s", name, logFile)
		}
	}
}

// alertPeers are the optional peers of one demo run.
type alertPeers struct {
	alertmanager, prometheus *peer
	webhookTokenFile         string
}

func (a *alertPeers) stop() {
	for _, p := range []*peer{a.prometheus, a.alertmanager} {
		if p != nil {
			p.stop()
		}
	}
}

// startAlertmanager starts Alertmanager, when installed, routing every
// alert to Headroom's webhook at base with a bearer token written to dir.
func startAlertmanager(ctx context.Context, dir, base string, logger *slog.Logger) (*peer, string, error) {
	bin, err := exec.LookPath(alertmanagerBinary)
	if err != nil {
		return nil, "", nil // not installed: the demo runs without the alert loop
	}
	token := randomToken()
	tokenFile := filepath.Join(dir, "webhook-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return nil, "", fmt.Errorf("demo: %w", err)
	}
	cfg := webhook.AlertmanagerRoute{URL: base + "/webhook/alertmanager", BearerTokenFile: tokenFile,
		GroupBy: []string{"alertname", "cluster", "group"}, GroupWait: time.Second, GroupInterval: 5 * time.Second,
		RepeatInterval: time.Hour}.Config()
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, "", fmt.Errorf("demo: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", fmt.Errorf("demo: %w", err)
	}
	data := filepath.Join(dir, "alertmanager-data")
	p, err := startPeer(ctx, "alertmanager", bin, addr, filepath.Join(dir, "alertmanager.log"), []string{
		"--config.file=" + cfgFile, "--storage.path=" + data, "--web.listen-address=" + addr, "--cluster.listen-address=",
	})
	if err != nil {
		logger.Warn("demo runs without Alertmanager", "err", err)
		return nil, "", nil
	}
	return p, tokenFile, nil
}

// startPrometheus starts Prometheus, when installed, scraping Headroom and
// the brokers of both labs.
func startPrometheus(ctx context.Context, dir, headroom string, headroomLab, staticLab []string, logger *slog.Logger) *peer {
	bin, err := exec.LookPath(prometheusBinary)
	if err != nil {
		return nil
	}
	job := func(name string, urls []string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "  - job_name: %s\n    scrape_interval: 5s\n    static_configs:\n      - targets: [", name)
		for i, u := range urls {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/metrics"))
		}
		b.WriteString("]\n")
		return b.String()
	}
	cfg := "scrape_configs:\n" + job("headroom", []string{headroom}) + job("lab-headroom", headroomLab) + job("lab-static", staticLab)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		logger.Warn("demo runs without Prometheus", "err", err)
		return nil
	}
	addr, err := freeAddr()
	if err != nil {
		return nil
	}
	p, err := startPeer(ctx, "prometheus", bin, addr, filepath.Join(dir, "prometheus.log"), []string{
		"--config.file=" + cfgFile, "--storage.tsdb.path=" + filepath.Join(dir, "prometheus-data"), "--web.listen-address=" + addr,
	})
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			logger.Warn("demo runs without Prometheus", "err", err)
		}
		return nil
	}
	return p
}
