package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/record"
	"github.com/headroomhq/headroom/store"
)

func init() { register(explainCommand) }

type explainArgs struct {
	project, configFile, storePath, at, direction string
}

// explainCommand is `headroom explain PROJECT [--at TIME]`: it reads the
// decision ledger and says why the project had the quota it had then.
func explainCommand(app *kingpin.Application) (string, func() int) {
	var a explainArgs
	cmd := app.Command("explain", "Explain why a project had its quota at a time, and whom it lent to or borrowed from.")
	cmd.Arg("project", "Project name.").Required().StringVar(&a.project)
	cmd.Flag("at", "Time to explain, RFC 3339 (e.g. 2026-11-23T03:00:00Z). Default: now.").StringVar(&a.at)
	cmd.Flag("direction", "produce, fetch or both.").Default("both").EnumVar(&a.direction, "produce", "fetch", "both")
	cmd.Flag("config.file", "Headroom configuration file; its store.path locates the ledger.").StringVar(&a.configFile)
	cmd.Flag("store.path", "The SQLite store file; overrides the configuration.").StringVar(&a.storePath)
	return cmd.FullCommand(), func() int { return runExplain(context.Background(), os.Stdout, os.Stderr, a, time.Now) }
}

func runExplain(ctx context.Context, stdout, stderr io.Writer, a explainArgs, now func() time.Time) int {
	at := now()
	if a.at != "" {
		t, err := time.Parse(time.RFC3339, a.at)
		if err != nil {
			fmt.Fprintf(stderr, "headroom explain: --at %q: %v\n", a.at, err)
			return 2
		}
		at = t
	}
	path := a.storePath
	if path == "" {
		c := config.DefaultConfig()
		if a.configFile != "" {
			loaded, err := config.LoadFile(a.configFile)
			if err != nil {
				fmt.Fprintf(stderr, "headroom explain: %v\n", err)
				return 2
			}
			c = *loaded
		}
		path = c.Store.Path
	}
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "headroom explain: store %s: %v\n", path, err)
		return 2
	}
	db, err := store.Open(ctx, path)
	if err != nil {
		fmt.Fprintf(stderr, "headroom explain: %v\n", err)
		return 2
	}
	defer db.Close()
	dirs := []string{a.direction}
	if a.direction == "both" {
		dirs = []string{"produce", "fetch"}
	}
	found := 0
	for _, d := range dirs {
		e, err := db.DecisionAt(ctx, a.project, d, at)
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(stdout, "No %s decision recorded for project %s at or before %s.\n", d, a.project, at.UTC().Format(time.RFC3339))
			continue
		}
		if err != nil {
			fmt.Fprintf(stderr, "headroom explain: %v\n", err)
			return 1
		}
		found++
		fmt.Fprintln(stdout, record.Explain(e))
	}
	if found == 0 {
		return 1
	}
	return 0
}
