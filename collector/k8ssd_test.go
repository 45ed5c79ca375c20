package collector

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakePod is one pod the fake Kubernetes API lists: a Strimzi broker pod
// with its metrics port and its clients port.
type fakePod struct {
	name, node  string
	metricsPort int
}

func (p fakePod) object() map[string]any {
	return map[string]any{
		"kind": "Pod", "apiVersion": "v1",
		"metadata": map[string]any{"name": p.name, "namespace": "kafka", "uid": "uid-" + p.name, "resourceVersion": "1",
			"labels": map[string]string{"strimzi.io/cluster": "prod", "strimzi.io/kind": "Kafka", "strimzi.io/pod-name": p.name}},
		"spec": map[string]any{"nodeName": p.node, "containers": []any{map[string]any{"name": "kafka",
			"ports": []any{
				map[string]any{"name": "tcp-prometheus", "containerPort": p.metricsPort, "protocol": "TCP"},
				map[string]any{"name": "tcp-clients", "containerPort": 9092, "protocol": "TCP"},
			}}}},
		"status": map[string]any{"phase": "Running", "podIP": "127.0.0.1",
			"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}},
	}
}

// newFakeKubeAPI serves the pods of namespace kafka the way the Kubernetes
// API does for an informer: a list, or a watch that streams the pods as
// ADDED events followed by the initial-events-end bookmark when asked
// (client-go's watch-list), then stays open until the client leaves.
//
// A test double: no Kubernetes API server can run here, and only the part
// of its protocol that pod discovery uses is spoken.
func newFakeKubeAPI(t *testing.T, pods []fakePod) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces/kafka/pods" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query()
		if q.Get("watch") != "true" && q.Get("watch") != "1" {
			items := []any{}
			for _, p := range pods {
				items = append(items, p.object())
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"kind": "PodList", "apiVersion": "v1",
				"metadata": map[string]any{"resourceVersion": "1"}, "items": items})
			return
		}
		enc := json.NewEncoder(w)
		if q.Get("sendInitialEvents") == "true" {
			for _, p := range pods {
				_ = enc.Encode(map[string]any{"type": "ADDED", "object": p.object()})
			}
			_ = enc.Encode(map[string]any{"type": "BOOKMARK", "object": map[string]any{"kind": "Pod", "apiVersion": "v1",
				"metadata": map[string]any{"resourceVersion": "1", "annotations": map[string]string{"k8s.io/initial-events-end": "true"}}}})
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A Strimzi cluster's brokers are found through the Kubernetes API (pod
// role): the metrics port is kept, the broker id is the pod's ordinal, the
// host is the pod's node, and the brokers are scraped.
func TestKubernetesSDEndToEnd(t *testing.T) {
	page := readFixture(t, "kafka_jmx_exporter-1.0.1_rules-strimzi-kafka-metrics.prom")
	b0, b1 := newPageServer(t, page), newPageServer(t, page)
	port := func(s *pageServer) int {
		n, _ := strconv.Atoi(s.URL[strings.LastIndexByte(s.URL, ':')+1:])
		return n
	}
	api := newFakeKubeAPI(t, []fakePod{{"prod-kafka-0", "node-a", port(b0)}, {"prod-kafka-1", "node-b", port(b1)}})
	cfg := loadConfig(t, fmt.Sprintf(`
clusters: [{name: prod, bootstrap_servers: ["127.0.0.1:9092"]}]
resource_groups:
  - name: shared
    brokers: [{id: 0}, {id: 1}]
    capacity: {produce: 10MiB/s, fetch: 20MiB/s}
    discovery:
      brokers:
        kubernetes_sd_configs:
          - role: pod
            api_server: %q
            namespaces: {names: [kafka]}
        relabel_configs:
          - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: tcp-prometheus, action: keep}
          - {source_labels: [__meta_kubernetes_pod_label_strimzi_io_pod_name], regex: ".*-([0-9]+)", target_label: broker_id}
          - {source_labels: [__meta_kubernetes_pod_node_name], target_label: host}
projects:
  - {name: alpha, group: shared, entity: {client_id: alpha}, topics: {prefixes: [alpha.]}, produce: {share: 1MiB/s}, fetch: {share: 1MiB/s}}
collector:
  profile: kafka-strimzi
`, api.URL))
	want := []string{
		fmt.Sprintf("%s/metrics kafka-strimzi prod/0 node-a", b0.URL),
		fmt.Sprintf("%s/metrics kafka-strimzi prod/1 node-b", b1.URL),
	}
	snap := discoveredRound(t, cfg, want)
	var got []string
	for _, b := range snap.Brokers {
		got = append(got, b.Cluster+"/"+b.Broker+" "+b.Target)
	}
	if w := []string{"prod/0 " + b0.URL + "/metrics", "prod/1 " + b1.URL + "/metrics"}; !slices.Equal(got, w) {
		t.Errorf("snapshot brokers = %q, want %q", got, w)
	}
}
