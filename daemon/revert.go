package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/kafkaconn"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/store"
)

// RevertedQuota is one project's quota written by RevertDirect.
type RevertedQuota struct {
	Project, Cluster, Entity string
	Produce, Fetch           float64
}

// RevertDirect writes every project's configured share straight to its
// cluster (AlterClientQuotas, both directions) when no replica runs, and
// records it in the audit trail of the configured store. With an ha block
// it refuses while the replicas' group has members: a running active
// replica would be a second writer, and reverting through it (headroom
// ctl revert --to shares) is the way then.
func RevertDirect(ctx context.Context, configFile, actor string, logger *slog.Logger) ([]RevertedQuota, error) {
	cfg, err := config.LoadFile(configFile)
	if err != nil {
		return nil, err
	}
	if cfg.HA != nil {
		if err := noReplicaRuns(ctx, cfg); err != nil {
			return nil, err
		}
	}
	var out []RevertedQuota
	for _, cc := range cfg.Clusters {
		entries, rows := shareEntries(cfg, cc.Name)
		if len(entries) == 0 {
			continue
		}
		if err := writeShares(ctx, cc, entries); err != nil {
			return out, err
		}
		out = append(out, rows...)
		logger.Info("shares written", "cluster", cc.Name, "projects", len(rows))
	}
	if err := recordRevert(ctx, cfg, actor, out, logger); err != nil {
		return out, fmt.Errorf("shares written, but not recorded: %w", err)
	}
	return out, nil
}

// shareEntries are the writes that set every project of a cluster to its
// configured shares, both directions, and the rows that report them.
func shareEntries(cfg *config.Config, cluster string) ([]kadm.AlterClientQuotaEntry, []RevertedQuota) {
	groups := map[string]string{}
	for _, g := range cfg.ResourceGroups {
		groups[g.Name] = g.Cluster
	}
	var entries []kadm.AlterClientQuotaEntry
	var rows []RevertedQuota
	for _, p := range cfg.Projects {
		if groups[p.Group] != cluster {
			continue
		}
		var ent kadm.ClientQuotaEntity
		if u := p.Entity.User; u != "" {
			ent = append(ent, kadm.ClientQuotaEntityComponent{Type: "user", Name: &u})
		}
		if id := p.Entity.ClientID; id != "" {
			ent = append(ent, kadm.ClientQuotaEntityComponent{Type: "client-id", Name: &id})
		}
		entries = append(entries, kadm.AlterClientQuotaEntry{Entity: ent, Ops: []kadm.AlterClientQuotaOp{
			{Key: applier.ProducerByteRate, Value: float64(p.Produce.Share)},
			{Key: applier.ConsumerByteRate, Value: float64(p.Fetch.Share)},
		}})
		rows = append(rows, RevertedQuota{Project: p.Name, Cluster: cluster, Entity: p.Entity.String(),
			Produce: float64(p.Produce.Share), Fetch: float64(p.Fetch.Share)})
	}
	return entries, rows
}

// writeShares writes one cluster's entries in one AlterClientQuotas
// request; every entity the cluster refuses is in the error.
func writeShares(ctx context.Context, cc config.ClusterConfig, entries []kadm.AlterClientQuotaEntry) error {
	conn, err := kafkaconn.Open(cc)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, conn.Timeout)
	res, err := conn.Admin.AlterClientQuotas(actx, entries)
	cancel()
	conn.Close()
	if err != nil {
		return fmt.Errorf("cluster %s: write shares: %w", cc.Name, err)
	}
	for _, r := range res {
		if r.Err != nil {
			err = errors.Join(err, fmt.Errorf("cluster %s: %v: %w", cc.Name, r.Entity, r.Err))
		}
	}
	return err
}

// recordRevert records what was written in the audit trail of the
// configured store, and with an ha block on the events topic too, so
// that every replica has it when they start again.
func recordRevert(ctx context.Context, cfg *config.Config, actor string, out []RevertedQuota, logger *slog.Logger) error {
	db, err := store.Open(ctx, cfg.Store.Path)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.HA != nil {
		rep, err := startReplication(ctx, cfg, db, revertAddr{}, prometheus.NewRegistry(), logger)
		if err != nil {
			return err
		}
		defer rep.close()
	}
	after, _ := json.Marshal(out)
	return db.RecordAudit(ctx, store.AuditRecord{At: time.Now(), Actor: actor, Action: "revert-to-shares-direct",
		Target: "clusters", Before: json.RawMessage("null"), After: after})
}

// noReplicaRuns fails when the replicas' group has members.
func noReplicaRuns(ctx context.Context, cfg *config.Config) error {
	for _, cc := range cfg.Clusters {
		if cc.Name != cfg.HA.Cluster {
			continue
		}
		opts, err := kafkaconn.Options(cc)
		if err != nil {
			return err
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return err
		}
		defer cl.Close()
		dctx, cancel := context.WithTimeout(ctx, time.Duration(cc.RequestTimeout))
		defer cancel()
		gs, err := kadm.NewClient(cl).DescribeGroups(dctx, cfg.HA.GroupID)
		if err != nil {
			return fmt.Errorf("describe group %s: %w", cfg.HA.GroupID, err)
		}
		for _, g := range gs {
			if g.Err != nil {
				return fmt.Errorf("describe group %s: %w", cfg.HA.GroupID, g.Err)
			}
			if n := len(g.Members); n > 0 {
				return fmt.Errorf("%d replicas are in group %s: revert through them (headroom ctl revert --to shares, without --direct)", n, cfg.HA.GroupID)
			}
		}
	}
	return nil
}

// revertAddr names the revert in the replica id of its records.
type revertAddr struct{}

func (revertAddr) Network() string { return "ctl" }
func (revertAddr) String() string  { return "revert" }
