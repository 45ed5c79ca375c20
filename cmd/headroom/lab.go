package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"

	"github.com/headroomhq/headroom/simulations/lab"
)

func init() { register(labCommand) }

// labCommand is `headroom lab --scenario FILE`: a lab cluster with Kafka's
// quota enforcement, per-broker metrics and the scenario's load, until
// interrupted.
func labCommand(app *kingpin.Application) (string, func() int) {
	cmd := app.Command("lab", "Run a lab Kafka cluster (in process) with quota enforcement, broker metrics and the load of a scenario.")
	var (
		opts          lab.RunOptions
		enforce, load bool
	)
	cmd.Flag("scenario", "Scenario file to replay.").Required().StringVar(&opts.ScenarioFile)
	cmd.Flag("addresses-file", "Also write the bootstrap servers and metrics URLs to this file as JSON.").StringVar(&opts.AddressesFile)
	cmd.Flag("scale", "Multiply every rate of the scenario (capacity, shares, demand) by this factor.").Default("1").Float64Var(&opts.Scale)
	cmd.Flag("time-compression", "Play the scenario this many times faster than wall time (1440 plays a day per minute).").Default("1").Float64Var(&opts.Compression)
	cmd.Flag("enforcement", "Enforce client quotas (--no-enforcement measures only).").Default("true").BoolVar(&enforce)
	cmd.Flag("load", "Run the scenario's producers and consumers (--no-load starts the cluster only).").Default("true").BoolVar(&load)
	return cmd.FullCommand(), func() int {
		opts.DisableEnforcement, opts.NoLoad = !enforce, !load
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := lab.Run(ctx, opts, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "headroom lab: %v\n", err)
			return 1
		}
		return 0
	}
}
