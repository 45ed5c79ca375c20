package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Config describes a lab cluster.
type Config struct {
	// Brokers is the number of brokers, node ids 0..Brokers−1. Required.
	Brokers int
	// Capacity is each broker's produce and fetch capacity in bytes/s. It
	// only drives the request-handler and network-processor idle gauges
	// (see metrics.go); enforcement uses the client quotas.
	Capacity Rates
	// Projects are the tenants whose topics the lab creates.
	Projects []Project
	// Window is the quota window. Default DefaultWindow (11 × 1s).
	Window Window
	// DisableEnforcement measures and exports everything but never
	// throttles a client: the same lab with quotas off.
	DisableEnforcement bool
	// MetricsAddrs optionally gives each broker's metrics listen address;
	// default 127.0.0.1:0.
	MetricsAddrs []string
	// KafkaPorts optionally gives each broker's Kafka port; default free
	// ports on 127.0.0.1.
	KafkaPorts []int
	// RetentionBytes bounds each partition's log (retention.bytes), so that
	// a lab running for hours does not hold all it was sent in memory.
	// Default 64 MiB; negative keeps everything.
	RetentionBytes int64
	// Now is the clock of the quota sensors. Default time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Rates is a pair of byte rates, bytes/s.
type Rates struct {
	Produce, Fetch float64
}

// Project is one tenant: one quota entity and the topic it owns.
type Project struct {
	// Name identifies the project.
	Name string
	// User and ClientID form the project's quota entity. ClientID defaults
	// to Name; the load generators use it as their client-id. An empty User
	// is matched as Kafka's unauthenticated principal (ANONYMOUS).
	User, ClientID string
	// Topic is the topic the project owns. Default "<name>.events".
	Topic string
	// Leaders gives the leader broker of each partition; its length is the
	// partition count. Default one partition per broker, starting at the
	// project's index.
	Leaders []int32
	// Weights gives the share of the project's traffic each partition
	// receives (same length as Leaders). Default equal. Skew (a hot broker)
	// is expressed here: the generators pick partitions by weight.
	Weights []float64
	// Quota is the project's initial per-broker quota, set through
	// AlterClientQuotas at start for its client-id (or user+client-id when
	// User is set). Zero sets no quota in that direction.
	Quota Rates
}

func (c *Config) setDefaults() {
	if c.Window.Samples == 0 {
		c.Window = DefaultWindow
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	for i := range c.Projects {
		p := &c.Projects[i]
		if p.ClientID == "" {
			p.ClientID = p.Name
		}
		if p.Topic == "" {
			p.Topic = p.Name + ".events"
		}
		if len(p.Leaders) == 0 && c.Brokers > 0 {
			for k := range c.Brokers {
				p.Leaders = append(p.Leaders, int32((i+k)%c.Brokers))
			}
		}
		if len(p.Weights) == 0 {
			p.Weights = make([]float64, len(p.Leaders))
			for k := range p.Weights {
				p.Weights[k] = 1
			}
		}
	}
}

func (c *Config) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Brokers < 1 || c.Brokers > 64 {
		add("brokers: must be in [1, 64], got %d", c.Brokers)
	}
	if c.Window.Samples < 2 || c.Window.SampleWindow <= 0 {
		add("window: need at least 2 samples of a positive duration, got %d × %s", c.Window.Samples, c.Window.SampleWindow)
	}
	if len(c.MetricsAddrs) > 0 && len(c.MetricsAddrs) != c.Brokers {
		add("metrics addresses: need one per broker (%d), got %d", c.Brokers, len(c.MetricsAddrs))
	}
	if len(c.KafkaPorts) > 0 && len(c.KafkaPorts) != c.Brokers {
		add("kafka ports: need one per broker (%d), got %d", c.Brokers, len(c.KafkaPorts))
	}
	names, topics := map[string]bool{}, map[string]bool{}
	for i, p := range c.Projects {
		switch {
		case p.Name == "":
			add("projects[%d].name: required", i)
		case names[p.Name]:
			add("projects[%d].name: duplicate %q", i, p.Name)
		}
		names[p.Name] = true
		if topics[p.Topic] {
			add("projects[%d].topic: %q is owned by another project", i, p.Topic)
		}
		topics[p.Topic] = true
		if len(p.Leaders) == 0 {
			add("projects[%d].leaders: at least one partition is required", i)
		}
		if len(p.Weights) != len(p.Leaders) {
			add("projects[%d].weights: need one per partition (%d), got %d", i, len(p.Leaders), len(p.Weights))
		}
		var sum float64
		for k, w := range p.Weights {
			if !(w >= 0) || math.IsInf(w, 0) {
				add("projects[%d].weights[%d]: must be a finite number >= 0, got %v", i, k, w)
			}
			sum += w
		}
		if sum <= 0 && len(p.Weights) > 0 {
			add("projects[%d].weights: at least one must be above zero", i)
		}
		for k, l := range p.Leaders {
			if l < 0 || int(l) >= c.Brokers {
				add("projects[%d].leaders[%d]: no broker %d", i, k, l)
			}
		}
		if p.Quota.Produce < 0 || p.Quota.Fetch < 0 {
			add("projects[%d].quota: must not be negative", i)
		}
	}
	return errors.Join(errs...)
}
