package collector

import (
	"bytes"
	"fmt"
	"mime"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is a parsed exposition page, by metric name.
type Families = map[string]*dto.MetricFamily

// ParsePage parses a Prometheus text (0.0.4) or OpenMetrics 1.0 page.
// contentType is the response's Content-Type; empty means text.
// OpenMetrics pages are reduced to the text format first: comments, # EOF,
// exemplars and timestamps are dropped (the mapping needs none of them).
func ParsePage(body []byte, contentType string) (Families, error) {
	if isOpenMetrics(contentType) {
		body = openMetricsToText(body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse exposition: %w", err)
	}
	return fams, nil
}

func isOpenMetrics(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/openmetrics-text"
}

// openMetricsToText keeps only sample lines, each cut to "name{labels} value".
func openMetricsToText(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for len(in) > 0 {
		line := in
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			line, in = in[:i], in[i+1:]
		} else {
			in = nil
		}
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		out = append(out, sampleHead(line)...)
		out = append(out, '\n')
	}
	return out
}

// sampleHead returns the line up to and including the value: the name, the
// label set (quote-aware) and the first field after it.
func sampleHead(line []byte) []byte {
	i := 0
	// Name (possibly quoted in OpenMetrics 2; treat quotes as in labels).
	inQuote, depth := false, 0
	for ; i < len(line); i++ {
		c := line[i]
		if inQuote {
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
			continue
		}
		switch c {
		case '"':
			inQuote = true
		case '{':
			depth++
		case '}':
			depth--
		}
		if depth == 0 && c == ' ' {
			break
		}
	}
	// Skip spaces, then the value.
	for i < len(line) && line[i] == ' ' {
		i++
	}
	for i < len(line) && line[i] != ' ' {
		i++
	}
	return line[:i]
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
