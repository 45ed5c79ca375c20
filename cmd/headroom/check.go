package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"

	"github.com/headroomhq/headroom/config"
)

func init() { register(checkCommand) }

// checkCommand is `headroom check config FILE...`: it validates configuration
// files, lists every problem and exits 1 if any file is invalid.
func checkCommand(app *kingpin.Application) (string, func() int) {
	check := app.Command("check", "Check resources for validity.")
	cmd := check.Command("config", "Check that configuration files are valid.")
	files := cmd.Arg("config-files", "Configuration files to check.").Required().ExistingFiles()
	return cmd.FullCommand(), func() int { return checkConfigs(os.Stdout, os.Stderr, *files) }
}

func checkConfigs(stdout, stderr io.Writer, files []string) int {
	code := 0
	for _, f := range files {
		c, err := config.LoadFile(f)
		if err != nil {
			code = 1
			var errs config.Errors
			if errors.As(err, &errs) {
				fmt.Fprintf(stderr, "%s: FAILED: %d problem(s)\n", f, len(errs))
				for _, e := range errs {
					fmt.Fprintf(stderr, "  %s\n", e.Error())
				}
				continue
			}
			fmt.Fprintf(stderr, "%s: FAILED: %v\n", f, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: SUCCESS: %d cluster(s), %d resource group(s), %d project(s)\n",
			f, len(c.Clusters), len(c.ResourceGroups), len(c.Projects))
	}
	return code
}
