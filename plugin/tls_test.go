package plugin

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// Headroom served over TLS with a private CA is reached when the
// datasource trusts that CA (Grafana's tlsAuthWithCACert and tlsCACert),
// and refused when it does not.
func TestHeadroomOverTLSWithPrivateCA(t *testing.T) {
	h := newHeadroom(t)
	srv := httptest.NewTLSServer(h.srv.Config.Handler)
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	client, _ := inProcess(t)
	tests := []struct {
		name     string
		jsonData string
		secure   map[string]string
		status   backend.HealthStatus
		message  string
	}{
		{"trusted CA", `"tlsAuthWithCACert": true`, map[string]string{"tlsCACert": ca}, backend.HealthStatusOk, "resource group(s)"},
		{"system CAs only", "", nil, backend.HealthStatusError, "certificate"},
		{"not a certificate", `"tlsAuthWithCACert": true`, map[string]string{"tlsCACert": "nope"}, backend.HealthStatusError, "tlsCACert holds no PEM certificate"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secure := map[string]string{"token": viewerToken}
			for k, v := range tt.secure {
				secure[k] = v
			}
			js := fmt.Sprintf(`{"url": %q`, srv.URL)
			if tt.jsonData != "" {
				js += ", " + tt.jsonData
			}
			s := &backend.DataSourceInstanceSettings{ID: int64(5000 + i), UID: fmt.Sprintf("tls-%d", i), Name: "Headroom", JSONData: []byte(js + "}"),
				DecryptedSecureJSONData: secure, Updated: time.Unix(1, 0)}
			res, err := client.CheckHealth(context.Background(), &backend.CheckHealthRequest{PluginContext: pctx(s)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.status || !strings.Contains(res.Message, tt.message) {
				t.Fatalf("%v %q, want %v containing %q", res.Status, res.Message, tt.status, tt.message)
			}
		})
	}
}
