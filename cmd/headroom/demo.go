package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"

	"github.com/headroomhq/headroom/simulations/demo"
)

func init() { register(demoCommand) }

// demoCommand is `headroom demo`: Headroom on a lab cluster next to static
// quotas on another, with a live view.
func demoCommand(app *kingpin.Application) (string, func() int) {
	cmd := app.Command("demo", "Watch Headroom lend idle quota on a lab cluster (real Kafka protocol, in process), next to static quotas.")
	var o demo.Options
	cmd.Flag("for", "Exit after this long with a summary; by default run until interrupted.").DurationVar(&o.For)
	cmd.Flag("scenario", "Scenario file to play; default the built-in two-project case.").StringVar(&o.ScenarioFile)
	cmd.Flag("scale", "Multiply every rate of the scenario.").Default("0.05").Float64Var(&o.Scale)
	cmd.Flag("compression", "Play scenario time this many times faster than wall time.").Default("360").Float64Var(&o.Compression)
	cmd.Flag("offset", "Scenario time to start at.").Default("6h").DurationVar(&o.Offset)
	cmd.Flag("round", "Headroom's control round.").Default(demo.DefaultRound.String()).DurationVar(&o.RoundInterval)
	cmd.Flag("web.listen-address", "Where Headroom serves its API and /metrics (a free port if taken).").Default("127.0.0.1:9644").StringVar(&o.ListenAddress)
	cmd.Flag("no-peers", "Do not start Alertmanager and Prometheus, even when installed.").BoolVar(&o.NoPeers)
	logLevel := cmd.Flag("log.level", "Log level of the components (logs go to stderr).").Default("error").Enum("debug", "info", "warn", "error")
	return cmd.FullCommand(), func() int {
		o.Logger = newLogger(*logLevel)
		o.Out = os.Stdout
		if fi, err := os.Stdout.Stat(); err == nil {
			o.Redraw = fi.Mode()&os.ModeCharDevice != 0
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if _, err := demo.Run(ctx, o); err != nil {
			fmt.Fprintf(os.Stderr, "headroom demo: %v\n", err)
			return 1
		}
		return 0
	}
}
