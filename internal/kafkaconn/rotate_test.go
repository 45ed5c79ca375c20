package kafkaconn

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/config"
)

// conns tracks a client's connections so that a test can drop them all, as
// a broker restart would; the client then reconnects and authenticates
// again.
type conns struct {
	mu  sync.Mutex
	all []net.Conn
}

func (c *conns) dial(ctx context.Context, network, host string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		c.mu.Lock()
		c.all = append(c.all, conn)
		c.mu.Unlock()
	}
	return conn, err
}

func (c *conns) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.all {
		conn.Close()
	}
	c.all = nil
}

// One client, kept open, follows its password file across reconnections:
// a wrong password written to the file fails the next connection, the
// right one written back works again, a server-side rotation followed by
// the file works, and a file that disappears leaves the last password in
// use.
func TestSASLPasswordFileIsReadOnEachConnection(t *testing.T) {
	for _, mech := range []string{config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			seeds := cluster(t, kfake.EnableSASL(), kfake.Superuser(mech, "headroom", "first-pass"))
			pwFile := filepath.Join(t.TempDir(), "pw")
			write := func(s string) {
				if err := os.WriteFile(pwFile, []byte(s+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write("first-pass")
			cc := config.ClusterConfig{Name: "lab", BootstrapServers: seeds, RequestTimeout: model.Duration(time.Second),
				SASL: &config.SASLConfig{Mechanism: mech, Username: "headroom", PasswordFile: pwFile}}
			opts, err := Options(cc)
			if err != nil {
				t.Fatal(err)
			}
			cs := &conns{}
			cl, err := kgo.NewClient(append(opts, kgo.Dialer(cs.dial))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			list := func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				// Not ListBrokers: the client may answer metadata from its
				// cache without a connection.
				_, err := adm.DescribeClientQuotas(ctx, false, nil)
				return err
			}
			if err := list(); err != nil {
				t.Fatalf("first connection: %v", err)
			}
			write("not-the-password")
			cs.drop()
			if err := list(); err == nil {
				t.Fatal("a reconnection with the wrong password in the file authenticated: the file was not read again")
			}
			write("first-pass")
			cs.drop()
			if err := list(); err != nil {
				t.Fatalf("after the file was fixed: %v", err)
			}
			if mech != config.SASLPlain { // kfake's PLAIN users are fixed
				m := kadm.ScramSha256
				if mech == config.SASLScramSHA512 {
					m = kadm.ScramSha512
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "headroom", Mechanism: m, Iterations: 4096, Password: "second-pass"}})
				cancel()
				if err == nil {
					err = res.Error()
				}
				if err != nil {
					t.Fatalf("rotate on the broker: %v", err)
				}
				write("second-pass")
				cs.drop()
				if err := list(); err != nil {
					t.Fatalf("after rotating the broker and the file: %v", err)
				}
			}
			if err := os.Remove(pwFile); err != nil {
				t.Fatal(err)
			}
			cs.drop()
			if err := list(); err != nil {
				t.Fatalf("with the file gone the last password should stay in use: %v", err)
			}
		})
	}
}
