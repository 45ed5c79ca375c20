package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/mattn/go-isatty"

	"github.com/headroomhq/headroom/simulations/scenario"
	"github.com/headroomhq/headroom/simulations/sim"
)

func init() { register(simulateCommand) }

type simulateArgs struct {
	files        []string
	policies     string
	format       string
	reportDir    string
	seriesPoints int
	rounds       int
	progress     bool
}

// simulateCommand is `headroom simulate SCENARIO...`: it replays scenarios
// against allocation policies and prints the decision-quality figures.
func simulateCommand(app *kingpin.Application) (string, func() int) {
	var a simulateArgs
	cmd := app.Command("simulate", "Replay scenarios against allocation policies and report throttled bytes, overload, churn and reclaim latency.")
	files := cmd.Arg("scenario-files", "Scenario files (simulations/scenarios/*.yaml).").Strings()
	more := cmd.Flag("scenario", "A scenario file; may be repeated, and adds to the arguments.").Strings()
	cmd.Flag("policies", "Comma-separated policies to run. Default: every registered policy ("+strings.Join(sim.DefaultPolicies(), ", ")+").").StringVar(&a.policies)
	cmd.Flag("format", "Output format: table, markdown or json.").Default("table").EnumVar(&a.format, "table", "markdown", "json")
	cmd.Flag("report.dir", "Also write report.md and SVG plots into this directory.").StringVar(&a.reportDir)
	cmd.Flag("report.points", "Samples per series in the plots.").Default("2000").IntVar(&a.seriesPoints)
	cmd.Flag("rounds", "Run only the first N rounds of each scenario (0: all).").Default("0").IntVar(&a.rounds)
	cmd.Flag("progress", "Draw a progress bar when stderr is a terminal.").Default("true").BoolVar(&a.progress)
	return cmd.FullCommand(), func() int {
		a.files = append(append([]string{}, *files...), *more...)
		a.progress = a.progress && isatty.IsTerminal(os.Stderr.Fd())
		return runSimulate(os.Stdout, os.Stderr, a)
	}
}

func runSimulate(stdout, stderr io.Writer, a simulateArgs) int {
	if len(a.files) == 0 {
		fmt.Fprintln(stderr, "headroom simulate: no scenario file given")
		return 2
	}
	var policies []string
	for _, p := range strings.Split(a.policies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			policies = append(policies, p)
		}
	}
	opt := sim.Options{Policies: policies, Rounds: a.rounds}
	if a.reportDir != "" {
		opt.SeriesPoints = a.seriesPoints
	}
	var results []*sim.Result
	for _, f := range a.files {
		s, err := scenario.Load(f)
		if err != nil {
			fmt.Fprintf(stderr, "headroom simulate: %v\n", err)
			return 1
		}
		opt.Progress = nil
		if a.progress {
			opt.Progress = sim.ProgressBar(stderr, s.Name)
		}
		res, err := sim.Run(s, opt)
		if err != nil {
			fmt.Fprintf(stderr, "headroom simulate: %s: %v\n", f, err)
			return 1
		}
		results = append(results, res)
	}
	var err error
	switch a.format {
	case "json":
		err = sim.WriteJSON(stdout, results)
	case "markdown":
		err = sim.WriteMarkdown(stdout, results)
	default:
		err = sim.WriteTable(stdout, results)
	}
	if err != nil {
		fmt.Fprintf(stderr, "headroom simulate: write: %v\n", err)
		return 1
	}
	if a.reportDir != "" {
		files, err := sim.WriteReport(a.reportDir, results)
		if err != nil {
			fmt.Fprintf(stderr, "headroom simulate: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "wrote %d report files to %s\n", len(files), a.reportDir)
	}
	return 0
}
