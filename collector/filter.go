package collector

import (
	"bytes"
	"fmt"
	"strconv"
)

// filterPage keeps the lines of the metric families a profile maps (and
// their # TYPE lines) and drops the rest, so that the full parser only
// builds what is used. Dropped sample lines still get a structural check
// (metric name, balanced label set, a float value) so that a truncated or
// garbled page is still a target error wherever the damage is.
func filterPage(body []byte, wanted map[string]bool) ([]byte, error) {
	if len(body) > 0 && body[len(body)-1] != '\n' {
		// The text format ends every line with a line feed: a page without
		// a final one was cut short.
		return nil, fmt.Errorf("page does not end with a line feed: truncated")
	}
	out := make([]byte, 0, len(body)/4)
	lineNo := 0
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i+1], body[i+1:]
		} else {
			body = nil
		}
		lineNo++
		trimmed := bytes.TrimRight(line, "\n")
		if len(trimmed) == 0 {
			continue
		}
		if trimmed[0] == '#' {
			// "# TYPE name type" and "# HELP name text": keep wanted ones.
			f := bytes.Fields(trimmed)
			if len(f) >= 3 && (string(f[1]) == "TYPE" || string(f[1]) == "HELP") && wanted[string(f[2])] {
				out = append(out, trimmed...)
				out = append(out, '\n')
			}
			continue
		}
		end := 0
		for end < len(trimmed) && trimmed[end] != '{' && trimmed[end] != ' ' && trimmed[end] != '\t' {
			end++
		}
		name := trimmed[:end]
		if wanted[string(name)] {
			out = append(out, trimmed...)
			out = append(out, '\n')
			continue
		}
		if err := checkSampleLine(trimmed, end); err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
	}
	return out, nil
}

// checkSampleLine is the cheap structural check of a skipped sample line;
// nameEnd is where the metric name ends.
func checkSampleLine(line []byte, nameEnd int) error {
	if nameEnd == 0 {
		return fmt.Errorf("sample line without a metric name")
	}
	for i, c := range line[:nameEnd] {
		if !(c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("invalid metric name %q", line[:nameEnd])
		}
	}
	i := nameEnd
	if i < len(line) && line[i] == '{' {
		inQuote := false
		for i++; i < len(line); i++ {
			c := line[i]
			if inQuote {
				if c == '\\' {
					i++
				} else if c == '"' {
					inQuote = false
				}
				continue
			}
			if c == '"' {
				inQuote = true
			} else if c == '}' {
				break
			}
		}
		if i >= len(line) {
			return fmt.Errorf("unterminated label set in %q", truncate(line))
		}
		i++
	}
	rest := bytes.Fields(line[i:])
	if len(rest) == 0 || len(rest) > 2 {
		return fmt.Errorf("expected a value (and optional timestamp) in %q", truncate(line))
	}
	if _, err := strconv.ParseFloat(string(rest[0]), 64); err != nil {
		return fmt.Errorf("invalid value in %q: %w", truncate(line), err)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
