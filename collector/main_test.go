package collector

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The comparison benchmark re-runs this binary as its page server, so
	// that serving pages costs neither Headroom nor Prometheus CPU.
	if addr := os.Getenv(pageServerEnv); addr != "" {
		servePagesForever(addr)
		return
	}
	goleak.VerifyTestMain(m)
}
