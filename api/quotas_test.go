package api

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/store"
)

// kafkaQuotas reads what a real Kafka-protocol cluster (kfake) holds, the
// way the daemon's round loop does, through DescribeClientQuotas.
type kafkaQuotas struct{ adm *kadm.Client }

func (k kafkaQuotas) ClusterQuotas(ctx context.Context, cluster string) (map[string]EntityQuota, error) {
	if cluster != "prod-eu" {
		return nil, errors.New("unknown cluster " + cluster)
	}
	qs, err := k.adm.DescribeClientQuotas(ctx, false, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]EntityQuota{}
	for _, q := range qs {
		var user, client string
		for _, c := range q.Entity {
			switch c.Type {
			case "user":
				user = *c.Name
			case "client-id":
				client = *c.Name
			}
		}
		key := "user=" + user
		switch {
		case user != "" && client != "":
			key += ",client-id=" + client
		case user == "":
			key = "client-id=" + client
		}
		var eq EntityQuota
		for _, v := range q.Values {
			switch v.Key {
			case "producer_byte_rate":
				eq.Produce = &v.Value
			case "consumer_byte_rate":
				eq.Fetch = &v.Value
			}
		}
		out[key] = eq
	}
	return out, nil
}

func TestQuotasShowPlanNextToCluster(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	closeCluster := sync.OnceFunc(kc.Close)
	defer closeCluster()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	s := func(v string) *string { return &v }
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: s("checkout")}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 31 << 20}, {Key: "consumer_byte_rate", Value: 61 << 20}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: s("search")}, {Type: "client-id", Name: s("indexer")}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 7 << 20}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}

	e := newEnv(t, "", nil)
	e.api.opts.Quotas = kafkaQuotas{adm}
	if err := e.db.RecordDecisions(ctx, []store.LedgerEntry{{At: e.now.Add(-time.Minute), Group: "events", Direction: "produce",
		Project: "checkout", Outcome: "written", After: 40 << 20, Share: 30 << 20}}); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "GET", "/api/v1/quotas", viewerToken, "")
	var qs []QuotaState
	if r.code != 200 || json.Unmarshal([]byte(r.body), &qs) != nil {
		t.Fatalf("%d %s", r.code, r.body)
	}
	got := map[string]QuotaState{}
	for _, q := range qs {
		got[q.Project+"/"+q.Direction] = q
	}
	f := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	tests := []struct {
		key              string
		planned, cluster any
	}{
		{"checkout/produce", float64(40 << 20), float64(31 << 20)},
		{"checkout/fetch", nil, float64(61 << 20)},
		{"search/fetch", nil, float64(7 << 20)},
		{"search/produce", nil, nil},
		{"notifications/produce", nil, nil},
	}
	for _, tt := range tests {
		q, ok := got[tt.key]
		if !ok {
			t.Errorf("%s missing", tt.key)
			continue
		}
		if f(q.Planned) != tt.planned || f(q.Cluster) != tt.cluster {
			t.Errorf("%s: planned %v cluster %v, want %v and %v", tt.key, f(q.Planned), f(q.Cluster), tt.planned, tt.cluster)
		}
	}

	// A cluster that cannot be read is a bad gateway, not an empty answer.
	closeCluster()
	req := e.do(t, "GET", "/api/v1/quotas", viewerToken, "")
	if req.code != 502 {
		t.Fatalf("quotas with the cluster down: %d %s", req.code, req.body)
	}
}
