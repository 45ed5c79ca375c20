package daemon

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A replica that cannot run safely says why at start and writes nothing:
// no quota, no intent.
func TestHAStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, c *kfake.Cluster, adm *kadm.Client)
		want  string
	}{
		{"state topic with the wrong cleanup policy", func(t *testing.T, _ *kfake.Cluster, adm *kadm.Client) {
			if _, err := adm.CreateTopic(t.Context(), 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, "_headroom_state"); err != nil {
				t.Fatal(err)
			}
		}, "topic _headroom_state exists with cleanup.policy=delete, want compact"},
		{"events topic compacted", func(t *testing.T, _ *kfake.Cluster, adm *kadm.Client) {
			if _, err := adm.CreateTopic(t.Context(), 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "_headroom_events"); err != nil {
				t.Fatal(err)
			}
		}, "topic _headroom_events exists with cleanup.policy=compact, want delete"},
		{"cluster refuses transactions", func(t *testing.T, c *kfake.Cluster, _ *kadm.Client) {
			// kfake supports transactions; the refusal is injected with its
			// request hook, the one fault here it cannot cause otherwise.
			c.ControlKey(int16(kmsg.InitProducerID), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				resp := kreq.ResponseKind().(*kmsg.InitProducerIDResponse)
				resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
				return resp, nil, true
			})
		}, "the cluster refuses transactions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			tc.setup(t, c, adm)

			dir := t.TempDir()
			base, err := os.ReadFile("../config/testdata/good/minimal.yml")
			if err != nil {
				t.Fatal(err)
			}
			cfg := strings.Replace(string(base), "127.0.0.1:9092", c.ListenAddrs()[0], 1) +
				"store: {path: " + filepath.Join(dir, "h.db") + "}\nha: {group_id: headroom}\n"
			file := filepath.Join(dir, "headroom.yml")
			if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err = Run(ctx, Options{ConfigFile: file, Listener: l, Grace: time.Second, Logger: slog.New(slog.DiscardHandler)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want an error saying %q", err, tc.want)
			}
			qs, err := adm.DescribeClientQuotas(t.Context(), false, nil)
			if err != nil || len(qs) != 0 {
				t.Errorf("quotas written: %v (err %v)", qs, err)
			}
			ends, err := adm.ListEndOffsets(t.Context(), "_headroom_control")
			if err != nil {
				t.Fatal(err)
			}
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil && o.Offset > 0 {
					t.Errorf("%d records on the control topic, want none", o.Offset)
				}
			})
		})
	}
}
