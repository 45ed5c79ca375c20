// Command headroom is the single binary of Headroom. Each subcommand lives in
// its own file and only parses flags and calls into a library package; the
// work itself belongs to those packages.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

// command is a subcommand: it registers its flags on app and returns the
// function that runs it. The returned function reports the exit code.
type command func(app *kingpin.Application) (name string, run func() int)

// commands lists every subcommand. Each subcommand file adds itself from
// its init function with register, so that files never touch one another.
var commands []command

func register(c command) { commands = append(commands, c) }

func main() {
	os.Exit(runMain(os.Args[1:]))
}

func runMain(args []string) int {
	app := kingpin.New("headroom", "Headroom: a control plane that lends idle Kafka quota headroom to busy projects.")
	app.Version(version.Print("headroom"))
	app.HelpFlag.Short('h')
	runs := map[string]func() int{}
	for _, c := range commands {
		name, run := c(app)
		runs[name] = run
	}
	selected, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "headroom: %v\n", err)
		return 2
	}
	// A command with subcommands may register one runner for all of them
	// ("ctl" runs "ctl list"): look the selection up word by word.
	run, ok := runs[selected]
	for name := selected; !ok && strings.Contains(name, " "); {
		name = name[:strings.LastIndex(name, " ")]
		run, ok = runs[name]
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "headroom: no runner for command %q\n", selected)
		return 2
	}
	return run()
}
