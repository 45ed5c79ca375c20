package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/headroomhq/headroom/simulations/scenario"
)

// RunOptions are what `headroom lab` passes to Run.
type RunOptions struct {
	// ScenarioFile is the scenario to replay. Required.
	ScenarioFile string
	// AddressesFile, when set, receives the bootstrap servers and metrics
	// URLs as JSON (see Addresses).
	AddressesFile string
	// Scale multiplies every rate of the scenario. Default 1.
	Scale float64
	// Compression plays scenario time this many times faster than wall
	// time. Default 1.
	Compression float64
	// DisableEnforcement runs the lab with quotas measured but not enforced.
	DisableEnforcement bool
	// NoLoad starts the cluster without load generators.
	NoLoad bool
	Logger *slog.Logger
}

// Run starts a lab for a scenario file, prints its addresses to out and
// runs the scenario's load until ctx is done.
func Run(ctx context.Context, opts RunOptions, out io.Writer) error {
	if opts.Scale == 0 {
		opts.Scale = 1
	}
	if opts.Compression == 0 {
		opts.Compression = 1
	}
	if !(opts.Compression > 0) {
		return fmt.Errorf("time compression must be above zero, got %v", opts.Compression)
	}
	s, err := scenario.Load(opts.ScenarioFile)
	if err != nil {
		return err
	}
	cfg, err := FromScenario(s, opts.Scale)
	if err != nil {
		return err
	}
	cfg.DisableEnforcement = opts.DisableEnforcement
	cfg.Logger = opts.Logger
	c, err := Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("start lab for scenario %s: %w", opts.ScenarioFile, err)
	}
	defer c.Close()

	addrs := c.Addresses()
	if err := PrintAddresses(out, addrs); err != nil {
		return err
	}
	if opts.AddressesFile != "" {
		if err := WriteAddresses(opts.AddressesFile, addrs); err != nil {
			return err
		}
	}
	if !opts.NoLoad {
		load, err := StartLoad(ctx, c, ScenarioDemand(s, time.Now(), opts.Compression, opts.Scale), LoadOptions{})
		if err != nil {
			return fmt.Errorf("start load for scenario %s: %w", opts.ScenarioFile, err)
		}
		defer load.Close()
	}
	<-ctx.Done()
	return nil
}

// PrintAddresses writes the bootstrap servers and each broker's metrics
// URL, one per line.
func PrintAddresses(w io.Writer, a Addresses) error {
	ids := make([]string, 0, len(a.Metrics))
	for id := range a.Metrics {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if _, err := fmt.Fprintf(w, "bootstrap servers: %s\n", strings.Join(a.Bootstrap, ",")); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := fmt.Fprintf(w, "broker %s metrics: %s\n", id, a.Metrics[id]); err != nil {
			return err
		}
	}
	return nil
}

// WriteAddresses writes a as JSON to path, atomically (a reader never sees
// a half-written file).
func WriteAddresses(path string, a Addresses) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Errorf("encode addresses: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".addresses-*")
	if err != nil {
		return fmt.Errorf("write addresses %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write addresses %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write addresses %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write addresses %s: %w", path, err)
	}
	return nil
}
