package sim

import (
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

var (
	demandColor = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
	quotaColor  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	servedColor = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
)

// WriteReport writes report.md into dir with the figures table and, for
// each scenario, an SVG of throttled bytes per policy and, where series
// were recorded, an SVG per policy of each project's produce demand, quota
// and served rate over time. It returns the files written.
func WriteReport(dir string, results []*Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var files []string
	var md strings.Builder
	md.WriteString("# Headroom simulation report\n\n")
	if err := WriteMarkdown(&md, results); err != nil {
		return nil, err
	}
	md.WriteString("\nThrottled bytes are demand not served, both directions summed; `vs static` and `vs oracle` divide them by those policies'. " +
		"The oracle is a bound (perfect foresight, per-broker service), not a plan a cluster could apply; its writes and lender figures are not comparable.\n")
	for _, r := range results {
		fmt.Fprintf(&md, "\n## %s\n\n", r.Scenario)
		name := safeName(r.Scenario) + "-throttled.svg"
		if err := writeSVG(filepath.Join(dir, name), 7*vg.Inch, 4*vg.Inch, func(c draw.Canvas) error {
			p, err := throttledPlot(r)
			if err != nil {
				return err
			}
			p.Draw(c)
			return nil
		}); err != nil {
			return nil, err
		}
		files = append(files, filepath.Join(dir, name))
		fmt.Fprintf(&md, "![throttled bytes per policy](%s)\n\n", name)
		for _, p := range r.Policies {
			if p.Series == nil || len(p.Series.Projects) == 0 {
				continue
			}
			name := safeName(r.Scenario+"-"+p.Name) + ".svg"
			rows := len(p.Series.Projects)
			if err := writeSVG(filepath.Join(dir, name), 8*vg.Inch, vg.Length(rows)*2*vg.Inch+0.5*vg.Inch, func(c draw.Canvas) error {
				return drawSeries(c, r.Scenario, p)
			}); err != nil {
				return nil, err
			}
			files = append(files, filepath.Join(dir, name))
			fmt.Fprintf(&md, "![%s: demand, quota and served per project](%s)\n\n", p.Name, name)
		}
	}
	path := filepath.Join(dir, "report.md")
	if err := os.WriteFile(path, []byte(md.String()), 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return append([]string{path}, files...), nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

func writeSVG(path string, w, h vg.Length, draw func(draw.Canvas) error) error {
	c := vgsvg.New(w, h)
	if err := draw(newCanvas(c)); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return f.Close()
}

func newCanvas(c vg.CanvasSizer) draw.Canvas { return draw.New(c) }

func throttledPlot(r *Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = r.Scenario + ": throttled bytes per policy"
	p.Y.Label.Text = "GiB not served"
	vals := make(plotter.Values, len(r.Policies))
	names := make([]string, len(r.Policies))
	for i, pr := range r.Policies {
		vals[i] = pr.ThrottledBytes / (1 << 30)
		names[i] = pr.Name
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(30))
	if err != nil {
		return nil, err
	}
	bars.Color = servedColor
	p.Add(bars)
	p.NominalX(names...)
	return p, nil
}

func drawSeries(c draw.Canvas, scenario string, pr PolicyResult) error {
	se := pr.Series
	plots := make([][]*plot.Plot, len(se.Projects))
	for i, name := range se.Projects {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s, %s: %s (produce)", scenario, pr.Name, name)
		p.X.Label.Text = "hours"
		p.Y.Label.Text = "MiB/s"
		for _, l := range []struct {
			label string
			ys    []float64
			col   color.Color
			dash  []vg.Length
		}{
			{"demand", se.Demand[i], demandColor, []vg.Length{vg.Points(4), vg.Points(2)}},
			{"quota, as a total", se.Quota[i], quotaColor, nil},
			{"served", se.Served[i], servedColor, nil},
		} {
			xys := make(plotter.XYs, len(se.Hours))
			for k := range se.Hours {
				xys[k] = plotter.XY{X: se.Hours[k], Y: l.ys[k] / (1 << 20)}
			}
			line, err := plotter.NewLine(xys)
			if err != nil {
				return err
			}
			line.Color = l.col
			line.Dashes = l.dash
			p.Add(line)
			p.Legend.Add(l.label, line)
		}
		p.Legend.Top = true
		p.Legend.Left = true
		plots[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Points(10), PadTop: vg.Points(5), PadBottom: vg.Points(5), PadLeft: vg.Points(5), PadRight: vg.Points(5)}
	canvases := plot.Align(plots, tiles, c)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	return nil
}

// ProgressBar returns an Options.Progress function that draws a bar on w,
// labelled, redrawing the line in place; it ends the line when done.
func ProgressBar(w io.Writer, label string) func(done, total int) {
	const width = 40
	return func(done, total int) {
		if total <= 0 {
			return
		}
		n := done * width / total
		fmt.Fprintf(w, "\r%-28s [%s%s] %3d%%", label, strings.Repeat("=", n), strings.Repeat(" ", width-n), done*100/total)
		if done >= total {
			fmt.Fprintln(w)
		}
	}
}
