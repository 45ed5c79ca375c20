package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/alecthomas/kingpin/v2"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/detector"
)

func init() { register(detectCommand) }

// detectCommand is `headroom detect [--output FILE] IN.csv`, the detector's
// offline mode: it scores a `timestamp,value` CSV with the default detector
// configuration and writes `timestamp,value,anomaly_score`.
func detectCommand(app *kingpin.Application) (string, func() int) {
	cmd := app.Command("detect", "Score a timestamp,value CSV with the streaming detector (offline mode).")
	output := cmd.Flag("output", "Write the scored CSV to this file instead of standard output.").Short('o').String()
	input := cmd.Arg("input", "The timestamp,value CSV to score.").Required().String()
	return cmd.FullCommand(), func() int { return runDetect(os.Stdout, os.Stderr, *input, *output) }
}

func runDetect(stdout, stderr io.Writer, input, output string) int {
	if err := detectFile(stdout, input, output); err != nil {
		fmt.Fprintf(stderr, "headroom detect: %v\n", err)
		return 1
	}
	return 0
}

// detectFile scores input into output (stdout if empty). The output file is
// written whole or not at all.
func detectFile(stdout io.Writer, input, output string) error {
	in, err := os.Open(input)
	if err != nil {
		return err
	}
	defer in.Close()
	rows, err := detector.ReadCSV(in)
	if err != nil {
		return fmt.Errorf("%s: %w", input, err)
	}
	scores, err := detector.Scores(config.DefaultDetectorConfig(), rows)
	if err != nil {
		return err
	}
	if output == "" {
		return detector.WriteCSV(stdout, rows, scores)
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), ".headroom-detect-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := detector.WriteCSV(tmp, rows, scores); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", output, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", output, err)
	}
	return os.Rename(tmp.Name(), output)
}
