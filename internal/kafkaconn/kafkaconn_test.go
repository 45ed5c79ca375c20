package kafkaconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func cluster(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func listBrokers(t *testing.T, cc config.ClusterConfig) error {
	t.Helper()
	conn, err := Open(cc)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bs, err := conn.Admin.ListBrokers(ctx)
	if err == nil && len(bs) != 1 {
		t.Fatalf("%d brokers listed, want 1", len(bs))
	}
	return err
}

func TestSASLMechanisms(t *testing.T) {
	dir := t.TempDir()
	for _, mech := range []string{config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			seeds := cluster(t, kfake.EnableSASL(), kfake.Superuser(mech, "headroom", "s3cret"))
			pwFile := filepath.Join(dir, mech+".pw")
			if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			base := config.ClusterConfig{Name: "lab", BootstrapServers: seeds, RequestTimeout: model.Duration(3 * time.Second)}

			good := base
			good.SASL = &config.SASLConfig{Mechanism: mech, Username: "headroom", PasswordFile: pwFile}
			if err := listBrokers(t, good); err != nil {
				t.Fatalf("password from file: %v", err)
			}
			inline := base
			inline.SASL = &config.SASLConfig{Mechanism: mech, Username: "headroom", Password: "s3cret"}
			if err := listBrokers(t, inline); err != nil {
				t.Fatalf("inline password: %v", err)
			}
			bad := base
			bad.SASL = &config.SASLConfig{Mechanism: mech, Username: "headroom", Password: "wrong"}
			if err := listBrokers(t, bad); err == nil {
				t.Fatal("a wrong password authenticated")
			}
		})
	}
}

func TestTLSWithCAFile(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	seeds := cluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}))
	cc := config.ClusterConfig{Name: "lab", BootstrapServers: seeds, RequestTimeout: model.Duration(3 * time.Second),
		TLS: &config.TLSConfig{Enabled: true, CAFile: ca, ServerName: "lab.headroom.test"}}
	if err := listBrokers(t, cc); err != nil {
		t.Fatalf("tls with the right CA: %v", err)
	}
	// Without the CA the self-signed certificate is refused.
	cc.TLS = &config.TLSConfig{Enabled: true, ServerName: "lab.headroom.test"}
	if err := listBrokers(t, cc); err == nil {
		t.Fatal("an unknown CA was trusted")
	}
}

func TestBadSettings(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	seeds := []string{"127.0.0.1:9"}
	for _, tc := range []struct {
		name string
		c    config.ClusterConfig
		want string
	}{
		{"no seeds", config.ClusterConfig{Name: "x"}, "no bootstrap servers"},
		{"missing CA", config.ClusterConfig{Name: "x", BootstrapServers: seeds, TLS: &config.TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "none.pem")}}, "read ca_file"},
		{"CA not PEM", config.ClusterConfig{Name: "x", BootstrapServers: seeds, TLS: &config.TLSConfig{Enabled: true, CAFile: notPEM}}, "holds no PEM certificate"},
		{"missing key pair", config.ClusterConfig{Name: "x", BootstrapServers: seeds, TLS: &config.TLSConfig{Enabled: true, CertFile: notPEM, KeyFile: notPEM}}, "load cert_file and key_file"},
		{"unknown mechanism", config.ClusterConfig{Name: "x", BootstrapServers: seeds, SASL: &config.SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, "unknown mechanism"},
		{"missing password file", config.ClusterConfig{Name: "x", BootstrapServers: seeds, SASL: &config.SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordFile: filepath.Join(dir, "none")}}, "read password_file"},
		{"empty password", config.ClusterConfig{Name: "x", BootstrapServers: seeds, SASL: &config.SASLConfig{Mechanism: "PLAIN", Username: "u"}}, "empty password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cluster x") {
				t.Fatalf("error %v, want it to name cluster x and say %q", err, tc.want)
			}
		})
	}
}

func TestOpenAllClosesOnError(t *testing.T) {
	seeds := cluster(t)
	_, err := OpenAll([]config.ClusterConfig{
		{Name: "good", BootstrapServers: seeds},
		{Name: "bad"},
	})
	if err == nil || !strings.Contains(err.Error(), "cluster bad") {
		t.Fatalf("OpenAll: %v", err)
	}
	// goleak in TestMain fails the package if "good" was left open.
	conns, err := OpenAll([]config.ClusterConfig{{Name: "good", BootstrapServers: seeds}})
	if err != nil || conns["good"] == nil || conns["good"].Timeout != time.Duration(config.DefaultRequestTimeout) {
		t.Fatalf("OpenAll: %v %+v", err, conns)
	}
	CloseAll(conns)
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lab.headroom.test"},
		DNSNames: []string{"lab.headroom.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
