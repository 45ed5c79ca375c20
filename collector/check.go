package collector

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// CheckResult is one target scraped once, mapped but not rated: counter
// points hold totals. It lets a user check a profile before configuring it.
type CheckResult struct {
	Target  Target        `json:"target"`
	Samples int           `json:"samples"`
	Dropped int           `json:"dropped_non_finite"`
	Points  []CheckPoint  `json:"points"`
	Error   string        `json:"error,omitempty"`
	Took    time.Duration `json:"took"`
}

// CheckPoint is a mapped point in printable form.
type CheckPoint struct {
	Kind    string  `json:"kind"`
	Labels  string  `json:"labels"`
	Value   float64 `json:"value"`
	Counter bool    `json:"counter"`
}

func (k PointKey) labels() string {
	var parts []string
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	add("dir", k.dir())
	add("name", k.Name)
	add("sub", k.Sub)
	add("user", k.User)
	add("client_id", k.ClientID)
	add("group", k.Group)
	if k.Kind == KindLag {
		parts = append(parts, fmt.Sprintf("partition=%d", k.Partition))
	}
	return strings.Join(parts, ",")
}

// Check scrapes every target once, concurrently, and maps it.
func Check(ctx context.Context, f *Fetcher, targets []Target) []CheckResult {
	out := make([]CheckResult, len(targets))
	done := make(chan struct{})
	for i, t := range targets {
		go func() {
			defer func() { done <- struct{}{} }()
			out[i] = checkOne(ctx, f, t)
		}()
	}
	for range targets {
		<-done
	}
	return out
}

func checkOne(ctx context.Context, f *Fetcher, t Target) (r CheckResult) {
	r.Target = t
	start := time.Now()
	defer func() { r.Took = time.Since(start) }()
	prof, err := ProfileByName(t.Profile)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	page, err := f.Fetch(ctx, t.URL)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	pts, samples, dropped, err := MapPage(prof, page)
	if err != nil {
		r.Error = fmt.Sprintf("scrape %s: %v", t.URL, err)
		return r
	}
	r.Samples, r.Dropped = samples, dropped
	for _, p := range pts {
		r.Points = append(r.Points, CheckPoint{Kind: p.Kind.String(), Labels: p.labels(), Value: p.Value, Counter: p.Counter})
	}
	slices.SortFunc(r.Points, func(a, b CheckPoint) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Labels, b.Labels)
	})
	return r
}

// WriteCheckTable prints check results as aligned text.
func WriteCheckTable(w io.Writer, results []CheckResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range results {
		fmt.Fprintf(tw, "# %s (profile %s): ", r.Target.URL, r.Target.Profile)
		if r.Error != "" {
			fmt.Fprintf(tw, "ERROR %s\n", r.Error)
			continue
		}
		fmt.Fprintf(tw, "%d samples, %d canonical points, %d non-finite dropped\n", r.Samples, len(r.Points), r.Dropped)
		fmt.Fprintln(tw, "KIND\tLABELS\tVALUE\tTYPE")
		for _, p := range r.Points {
			typ := "gauge"
			if p.Counter {
				typ = "counter (total; rated across rounds)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%g\t%s\n", p.Kind, p.Labels, p.Value, typ)
		}
	}
	return tw.Flush()
}
