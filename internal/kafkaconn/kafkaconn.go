// Package kafkaconn opens Headroom's admin connections to the configured
// Kafka-compatible clusters: seed brokers, client id, TLS and SASL (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512) as the clusters section of the
// configuration describes them.
//
// It owns connection settings only. What is read or written over the
// connection belongs to the collector (placement, lag) and the limiter's
// applier (client quotas).
package kafkaconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/headroomhq/headroom/config"
)

// Conn is one cluster's admin connection.
type Conn struct {
	Name string
	// Client is the underlying franz-go client; Admin wraps it.
	Client *kgo.Client
	Admin  *kadm.Client
	// Timeout bounds each admin request (clusters[].request_timeout).
	Timeout time.Duration
}

// Close closes the connection.
func (c *Conn) Close() { c.Client.Close() }

// Options returns the franz-go options for a cluster: seeds, client id, TLS
// and SASL. The SASL password file is read here, to report a missing one at
// once, and again on every new connection, so that a rotated file takes
// effect without a configuration change.
func Options(c config.ClusterConfig) ([]kgo.Opt, error) {
	if len(c.BootstrapServers) == 0 {
		return nil, fmt.Errorf("cluster %s: no bootstrap servers", c.Name)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.BootstrapServers...),
		kgo.ClientID(cmpOr(c.ClientID, config.DefaultAdminClientID)),
		// Admin requests carry their own deadlines; keep the client from
		// retrying a dead seed forever behind them.
		kgo.RetryTimeout(time.Duration(c.RequestTimeout)),
	}
	if c.TLS != nil && c.TLS.Enabled {
		tc, err := tlsConfig(*c.TLS)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: tls: %w", c.Name, err)
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL != nil {
		m, err := mechanism(*c.SASL)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: sasl: %w", c.Name, err)
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// Open opens an admin connection to c. It does not dial: the first request
// does, so a cluster that is down at start is an error of that request, not
// of Open.
func Open(c config.ClusterConfig) (*Conn, error) {
	opts, err := Options(c)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: new client: %w", c.Name, err)
	}
	timeout := time.Duration(c.RequestTimeout)
	if timeout <= 0 {
		timeout = time.Duration(config.DefaultRequestTimeout)
	}
	return &Conn{Name: c.Name, Client: cl, Admin: kadm.NewClient(cl), Timeout: timeout}, nil
}

// OpenAll opens every configured cluster, keyed by name. On error the ones
// already opened are closed.
func OpenAll(cs []config.ClusterConfig) (map[string]*Conn, error) {
	out := make(map[string]*Conn, len(cs))
	for _, c := range cs {
		conn, err := Open(c)
		if err != nil {
			CloseAll(out)
			return nil, err
		}
		out[c.Name] = conn
	}
	return out, nil
}

// CloseAll closes every connection of m.
func CloseAll(m map[string]*Conn) {
	for _, c := range m {
		c.Close()
	}
}

func tlsConfig(c config.TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // an explicit operator choice
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load cert_file and key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// mechanism returns the SASL mechanism in its callback form: franz-go asks
// for the credentials on every new connection, and the password file is
// read then, so that a rotated file takes effect on the next connection
// without a configuration change. A file that cannot be read (mid-rotation,
// say) leaves the last password read in use; only a file never read is an
// error, and Options reports it at once.
func mechanism(c config.SASLConfig) (sasl.Mechanism, error) {
	switch c.Mechanism {
	case config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512:
	default:
		return nil, fmt.Errorf("unknown mechanism %q (want %s, %s or %s)", c.Mechanism, config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512)
	}
	pw := &password{c: c}
	if _, err := pw.get(); err != nil {
		return nil, err
	}
	switch c.Mechanism {
	case config.SASLPlain:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			p, err := pw.get()
			return plain.Auth{User: c.Username, Pass: p}, err
		}), nil
	case config.SASLScramSHA256:
		return scram.Sha256(func(context.Context) (scram.Auth, error) {
			p, err := pw.get()
			return scram.Auth{User: c.Username, Pass: p}, err
		}), nil
	default:
		return scram.Sha512(func(context.Context) (scram.Auth, error) {
			p, err := pw.get()
			return scram.Auth{User: c.Username, Pass: p}, err
		}), nil
	}
}

// password reads a SASL password, from its file on every call.
type password struct {
	c    config.SASLConfig
	mu   sync.Mutex
	last string
}

func (p *password) get() (string, error) {
	if p.c.PasswordFile == "" {
		if p.c.Password == "" {
			return "", fmt.Errorf("mechanism %s for user %q has an empty password", p.c.Mechanism, p.c.Username)
		}
		return string(p.c.Password), nil
	}
	b, err := os.ReadFile(p.c.PasswordFile)
	pass := strings.TrimRight(string(b), "\r\n")
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err == nil && pass != "":
		p.last = pass
		return pass, nil
	case p.last != "":
		return p.last, nil
	case err != nil:
		return "", fmt.Errorf("read password_file: %w", err)
	}
	return "", fmt.Errorf("mechanism %s for user %q has an empty password", p.c.Mechanism, p.c.Username)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
