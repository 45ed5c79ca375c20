package collector

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// dnsNetnsEnv marks the child process that runs the dns_sd test inside its
// own network and mount namespaces.
const dnsNetnsEnv = "HEADROOM_TEST_DNS_NETNS"

// Prometheus's dns_sd asks the servers of /etc/resolv.conf on their port
// 53, with no way to name another. So the test re-runs itself in fresh
// network and mount namespaces (it needs root, as the project's tests run):
// there a real DNS server (miekg/dns) listens on 127.0.0.1:53 and a private
// resolv.conf is bind-mounted over /etc/resolv.conf, touching nothing
// outside. The brokers are found by SRV records, their hosts by A records,
// and both are scraped by name through the same server.
func TestDNSSDEndToEnd(t *testing.T) {
	if os.Getenv(dnsNetnsEnv) == "" {
		if os.Geteuid() != 0 {
			t.Fatal("the dns_sd test needs root to create network and mount namespaces (the project's tests run as root)")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestDNSSDEndToEnd$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), dnsNetnsEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS}
		out, err := cmd.CombinedOutput()
		t.Logf("namespaced run:\n%s", out)
		if err != nil || !strings.Contains(string(out), "--- PASS: TestDNSSDEndToEnd") {
			t.Fatalf("namespaced run failed: %v", err)
		}
		return
	}
	enterTestNamespaces(t)

	page := readFixture(t, "kafka_jmx_exporter-1.0.1_rules-jmx_exporter-kafka-2_0_0.prom")
	node := readFixture(t, "node_exporter_e2e_subset.prom")
	b0, b1 := newPageServer(t, page), newPageServer(t, page)
	n0 := newPageServer(t, node)
	port := func(s *pageServer) uint16 {
		_, p, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
		n, _ := strconv.Atoi(p)
		return uint16(n)
	}
	srv := startDNS(t, map[string][]dns.RR{
		"_jmx._tcp.kafka.test.": {
			srvRR("_jmx._tcp.kafka.test.", "kafka-0.kafka.test.", port(b0)),
			srvRR("_jmx._tcp.kafka.test.", "kafka-1.kafka.test.", port(b1)),
		},
		"kafka-0.kafka.test.": {aRR("kafka-0.kafka.test.")},
		"kafka-1.kafka.test.": {aRR("kafka-1.kafka.test.")},
	})
	defer srv.Shutdown()

	cfg := loadConfig(t, fmt.Sprintf(`
clusters: [{name: prod, bootstrap_servers: ["127.0.0.1:9092"]}]
resource_groups:
  - name: shared
    brokers: [{id: 0}, {id: 1}]
    capacity: {produce: 10MiB/s, fetch: 20MiB/s}
    discovery:
      brokers:
        dns_sd_configs: [{names: ["_jmx._tcp.kafka.test"]}]
        relabel_configs:
          - {source_labels: [__meta_dns_srv_record_target], regex: "kafka-([0-9]+)[.].*", target_label: broker_id}
      hosts:
        dns_sd_configs: [{names: ["kafka-0.kafka.test"], type: A, port: %d}]
        relabel_configs:
          - {source_labels: [__meta_dns_name], regex: "kafka-([0-9]+)[.].*", target_label: broker_id}
          - {source_labels: [__meta_dns_name], regex: "([^.]+)[.].*", target_label: host}
projects:
  - {name: alpha, group: shared, entity: {client_id: alpha}, topics: {prefixes: [alpha.]}, produce: {share: 1MiB/s}, fetch: {share: 1MiB/s}}
`, port(n0)))
	want := []string{
		fmt.Sprintf("http://127.0.0.1:%d/metrics node prod/0 kafka-0", port(n0)),
		fmt.Sprintf("http://kafka-0.kafka.test:%d/metrics kafka-jmx prod/0 ", port(b0)),
		fmt.Sprintf("http://kafka-1.kafka.test:%d/metrics kafka-jmx prod/1 ", port(b1)),
	}
	// The targets are scraped by name, through the same DNS server.
	snap := discoveredRound(t, cfg, want)
	for _, st := range snap.Targets {
		if !st.Up {
			t.Errorf("target %s down: %s", st.Target, st.Error)
		}
	}
	var brokers []string
	for _, b := range snap.Brokers {
		brokers = append(brokers, b.Cluster+"/"+b.Broker)
	}
	if !slices.Equal(brokers, []string{"prod/0", "prod/1"}) {
		t.Errorf("snapshot brokers = %q", brokers)
	}
	if len(snap.Hosts) != 1 || snap.Hosts[0].Host != "kafka-0" {
		t.Errorf("snapshot hosts = %+v", snap.Hosts)
	}
}

// enterTestNamespaces brings up loopback in the new network namespace and
// points /etc/resolv.conf, in the new mount namespace only, at 127.0.0.1.
func enterTestNamespaces(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		t.Fatalf("bring loopback up: %v", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make mounts private: %v", err)
	}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(resolv, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount resolv.conf: %v", err)
	}
}

func srvRR(name, target string, port uint16) dns.RR {
	return &dns.SRV{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 30},
		Priority: 1, Weight: 1, Port: port, Target: target}
}

func aRR(name string) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.IPv4(127, 0, 0, 1)}
}

// startDNS serves records on 127.0.0.1:53 (UDP): the records of the asked
// name and type, NOERROR with no answer for another type of a known name,
// NXDOMAIN otherwise.
func startDNS(t *testing.T, records map[string][]dns.RR) *dns.Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:53")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1:53: %v", err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		for _, q := range r.Question {
			rrs, known := records[strings.ToLower(q.Name)]
			if !known {
				m.Rcode = dns.RcodeNameError
				continue
			}
			for _, rr := range rrs {
				if rr.Header().Rrtype == q.Qtype {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		_ = w.WriteMsg(m)
	})
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	return srv
}
