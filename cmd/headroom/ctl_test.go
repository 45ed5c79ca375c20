package main

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// ctlTestServer serves the real API for the ctl binary to call.
func ctlTestServer(t *testing.T) string {
	t.Helper()
	cfg, err := config.LoadFile("../../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Tokens = []config.APIToken{{Name: "otto", Role: config.RoleOperator, SHA256: api.HashToken("op")}}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := api.New(api.Options{Config: func() *config.Config { return cfg }, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCtlAgainstAPI(t *testing.T) {
	srv := ctlTestServer(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("op\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"ctl", "--api.url", srv, "--api.token-file", tokenFile, "list", "projects"}, 0, "checkout"},
		{[]string{"ctl", "--api.url", srv, "--api.token-file", tokenFile, "-o", "json", "show", "group", "events"}, 0, `"margin": 0.9`},
		{[]string{"ctl", "--api.url", srv, "--api.token-file", tokenFile, "override", "project", "search", "--share", "35MiB/s", "--for", "1h", "--reason", "launch"}, 0, "search"},
		{[]string{"ctl", "--api.url", srv, "--api.token-file", tokenFile, "override", "project", "search", "--share=-1MiB/s"}, 1, "--share"},
		{[]string{"ctl", "--api.url", srv, "list", "projects"}, 1, "401"},
	}
	for _, tt := range tests {
		cmd := exec.Command(headroomBin, tt.args...)
		cmd.Env = append(os.Environ(), "HEADROOM_API_TOKEN=")
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != tt.code || !strings.Contains(string(out), tt.out) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tt.args[3:], code, tt.code, tt.out, out)
		}
	}
}
