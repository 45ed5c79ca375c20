package collector

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"google.golang.org/protobuf/proto"
)

// Families is a parsed exposition page, by metric name. Every sample is an
// untyped metric: the mapping needs values and labels only.
type Families = map[string]*dto.MetricFamily

// MaxLineBytes bounds one line of a page. The longest lines of real broker
// and host pages are a few hundred bytes; a longer one is a huge label (or
// garbage) and fails the scrape before any parsing.
const MaxLineBytes = 64 << 10

// ParsePage parses a whole Prometheus text (0.0.4) or OpenMetrics 1.0 page
// with Prometheus's own parsers. contentType is the response's
// Content-Type; empty means text. An OpenMetrics page must end with
// "# EOF".
func ParsePage(body []byte, contentType string) (Families, error) {
	fams, _, err := parseFamilies(body, contentType, nil)
	return fams, err
}

// parseFamilies parses a page and keeps the samples of the families in
// wanted (nil: all). Every other sample is still parsed (Prometheus's
// lexer checks the whole page) but builds nothing. samples counts every
// sample of the page.
func parseFamilies(body []byte, contentType string, wanted map[string]bool) (fams Families, samples int, err error) {
	om := isOpenMetrics(contentType)
	if err := checkLines(body, om); err != nil {
		return nil, 0, fmt.Errorf("parse exposition: %w", err)
	}
	var p textparse.Parser
	if om {
		p = textparse.NewOpenMetricsParser(body, nil, textparse.WithOMParserSTSeriesSkipped())
	} else {
		p = textparse.NewPromParser(body, nil, false)
	}
	fams = Families{}
	var lset labels.Labels
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("parse exposition: %w", err)
		}
		if e != textparse.EntrySeries {
			if e == textparse.EntryHistogram {
				samples++
			}
			continue
		}
		samples++
		series, _, v := p.Series()
		name, quoted := seriesName(series)
		if !quoted && wanted != nil && !wanted[string(name)] {
			continue
		}
		p.Labels(&lset)
		n := lset.Get(labels.MetricName)
		if wanted != nil && !wanted[n] {
			continue
		}
		m := &dto.Metric{Untyped: &dto.Untyped{Value: proto.Float64(v)}}
		m.Label = make([]*dto.LabelPair, 0, lset.Len()-1)
		lset.Range(func(l labels.Label) {
			if l.Name != labels.MetricName {
				m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(l.Name), Value: proto.String(l.Value)})
			}
		})
		f := fams[n]
		if f == nil {
			f = &dto.MetricFamily{Name: proto.String(n), Type: dto.MetricType_UNTYPED.Enum()}
			fams[n] = f
		}
		f.Metric = append(f.Metric, m)
	}
	return fams, samples, nil
}

// seriesName returns the metric name at the start of a series' bytes;
// quoted is true when the name is inside the braces (UTF-8 names), where
// only the parsed labels tell it.
func seriesName(series []byte) (name []byte, quoted bool) {
	if i := bytes.IndexAny(series, "{ "); i >= 0 {
		if i == 0 {
			return nil, true
		}
		return series[:i], false
	}
	return series, false
}

// checkLines bounds every line by MaxLineBytes and refuses NUL bytes. A
// text page must end with a line feed (Prometheus's parser would add a
// missing one): a page without it was cut short. An OpenMetrics page's
// "# EOF" is checked by its parser.
func checkLines(b []byte, openMetrics bool) error {
	if !openMetrics && len(b) > 0 && b[len(b)-1] != '\n' {
		return fmt.Errorf("page does not end with a line feed: truncated")
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		// Prometheus's lexers read a NUL byte as the end of the input, so
		// the rest of the page would be silently ignored.
		return fmt.Errorf("NUL byte at offset %d", i)
	}
	for line := 1; len(b) > 0; line++ {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		if i > MaxLineBytes {
			return fmt.Errorf("line %d is longer than %d bytes", line, MaxLineBytes)
		}
		b = b[min(i+1, len(b)):]
	}
	return nil
}

func isOpenMetrics(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/openmetrics-text"
}

// labelValue returns the value of label name on m, or "".
func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// sampleValue returns the value of a counter, gauge or untyped metric.
func sampleValue(m *dto.Metric) (float64, bool) {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}
