package server

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/headroomhq/headroom/internal/testpeer"
)

// A real Prometheus scrapes the listener over mutual TLS with basic auth,
// configured as an operator would; the same scrape without the client
// certificate, or with a wrong password, is down.
func TestPrometheusScrapesOverTLS(t *testing.T) {
	p := newPKI(t)
	addr, _ := serveWeb(t, "127.0.0.1:0", mtlsBasicAuth(t, ""), p.dir)
	job := func(name, tls, pass string) string {
		return fmt.Sprintf(`  - job_name: %s
    scheme: https
    tls_config: {%s}
    basic_auth: {username: prometheus, password: %s}
    static_configs: [{targets: [%q]}]
`, name, tls, pass, addr)
	}
	ca := "ca_file: " + p.dir + "/ca.pem"
	cert := ca + ", cert_file: " + p.dir + "/client.pem, key_file: " + p.dir + "/client-key.pem"
	cfg := "global: {scrape_interval: 1s}\nscrape_configs:\n" + job("good", cert, "scrape-pass") + job("nocert", ca, "scrape-pass") + job("wrongpass", cert, "nope")
	prom := testpeer.Prometheus(t, cfg)
	client, err := promapi.NewClient(promapi.Config{Address: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	api := promv1.NewAPI(client)
	want := map[string]float64{"good": 1, "nocert": 0, "wrongpass": 0}
	query := func(q string) (model.Vector, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, _, _, err := api.Query(ctx, q, time.Now()) // warnings are not failures here
		if err != nil {
			return nil, err
		}
		vec, _ := v.(model.Vector)
		return vec, nil
	}
	// A real Prometheus scraping a real TLS listener on its own interval.
	testpeer.EventuallyNil(t, "up by job "+fmt.Sprint(want)+" (Prometheus at "+(&url.URL{Scheme: "http", Host: prom.Addr}).String()+")", 60*time.Second, func() error {
		up, err := query("up")
		if err != nil {
			return err
		}
		got := map[string]float64{}
		for _, s := range up {
			got[string(s.Metric["job"])] = float64(s.Value)
		}
		if len(got) != 3 || got["good"] != want["good"] || got["nocert"] != want["nocert"] || got["wrongpass"] != want["wrongpass"] {
			return fmt.Errorf("up by job: %v", got)
		}
		// The good job's samples came through, not just its up.
		if v, err := query(`headroom_config_last_reload_successful{job="good"}`); err != nil || len(v) != 1 {
			return fmt.Errorf("the good job's samples: %v %v", v, err)
		}
		return nil
	})
}
