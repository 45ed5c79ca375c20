package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/config"
)

func init() { register(scrapeCommand) }

// scrapeCommand is `headroom scrape [--profile P] [--format table|json] URL...`:
// it scrapes each URL once and prints the canonical points the profile
// maps, so that a profile can be checked before it is configured.
func scrapeCommand(app *kingpin.Application) (string, func() int) {
	cmd := app.Command("scrape", "Scrape metrics URLs once and print the canonical view of a collector profile.")
	profile := cmd.Flag("profile", "Collector profile: "+fmt.Sprint(collector.ProfileNames())+".").Default(config.ProfileKafkaJMX).String()
	format := cmd.Flag("format", "Output format.").Default("table").Enum("table", "json")
	timeout := cmd.Flag("scrape.timeout", "Timeout of each scrape.").Default("10s").Duration()
	urls := cmd.Arg("url", "Metrics URLs to scrape.").Required().Strings()
	return cmd.FullCommand(), func() int {
		return runScrape(os.Stdout, os.Stderr, *profile, *format, *timeout, *urls)
	}
}

func runScrape(stdout, stderr io.Writer, profile, format string, timeout time.Duration, urls []string) int {
	if _, err := collector.ProfileByName(profile); err != nil {
		fmt.Fprintf(stderr, "headroom scrape: %v\n", err)
		return 2
	}
	targets := make([]collector.Target, len(urls))
	for i, u := range urls {
		targets[i] = collector.Target{URL: u, Profile: profile}
	}
	f := &collector.Fetcher{Timeout: timeout, BodySizeLimit: int64(config.DefaultCollectorConfig().BodySizeLimit)}
	res := collector.Check(context.Background(), f, targets)
	var err error
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = collector.WriteCheckTable(stdout, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "headroom scrape: %v\n", err)
		return 1
	}
	code := 0
	for _, r := range res {
		if r.Error != "" {
			fmt.Fprintf(stderr, "headroom scrape: %s\n", r.Error)
			code = 1
		}
	}
	return code
}
