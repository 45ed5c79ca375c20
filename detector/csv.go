package detector

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/headroomhq/headroom/config"
)

// Row is one row of an offline `timestamp,value` CSV. Timestamp and Text
// keep the row's own spelling (without surrounding blanks) so that the
// output repeats it.
type Row struct {
	Line      int
	Timestamp string
	Time      time.Time
	Text      string
	Value     float64
}

// timeLayouts are the timestamp spellings ReadCSV accepts, besides Unix
// seconds. They are read as UTC unless they carry a zone.
var timeLayouts = []string{
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999",
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
}

// ReadCSV reads a `timestamp,value` CSV with that header. Every error names
// its line. A value must be a finite number: NaN and ±Inf are rejected
// rather than guessed at. Timestamps that do not increase are kept (the
// output has the same rows); the detector skips them.
func ReadCSV(r io.Reader) ([]Row, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = 2
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("read CSV: empty input, want a header timestamp,value")
	}
	if err != nil {
		return nil, fmt.Errorf("read CSV: %w", err)
	}
	if !strings.EqualFold(strings.TrimSpace(header[0]), "timestamp") || !strings.EqualFold(strings.TrimSpace(header[1]), "value") {
		return nil, fmt.Errorf("read CSV: line 1: header is %q,%q, want timestamp,value", header[0], header[1])
	}
	var rows []Row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		stamp := strings.TrimSpace(rec[0])
		ts, err := parseTime(stamp)
		if err != nil {
			return nil, fmt.Errorf("read CSV: line %d: timestamp %q: %w", line, rec[0], err)
		}
		text := strings.TrimSpace(rec[1])
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("read CSV: line %d: value %q is not a number", line, rec[1])
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("read CSV: line %d: value %q is not finite", line, rec[1])
		}
		rows = append(rows, Row{Line: line, Timestamp: stamp, Time: ts, Text: text, Value: v})
	}
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty")
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, errors.New(`want "2006-01-02 15:04:05", RFC 3339 or Unix seconds`)
}

// Scores runs one Series over rows in order and returns one anomaly score
// per row. The score of row i depends only on rows 0..i.
func Scores(cfg config.DetectorConfig, rows []Row) ([]float64, error) {
	s, err := NewSeries(cfg, Options{})
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = s.Observe(r.Time, r.Value).Score
	}
	return out, nil
}

// WriteCSV writes `timestamp,value,anomaly_score`, the rows as read with
// their scores.
func WriteCSV(w io.Writer, rows []Row, scores []float64) error {
	if len(rows) != len(scores) {
		return fmt.Errorf("write CSV: %d rows but %d scores", len(rows), len(scores))
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"timestamp", "value", "anomaly_score"}); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	rec := make([]string, 3)
	for i, r := range rows {
		rec[0], rec[1], rec[2] = r.Timestamp, r.Text, strconv.FormatFloat(scores[i], 'g', -1, 64)
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write CSV: line %d: %w", i+2, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	return nil
}

// Detect is the offline mode: it reads a `timestamp,value` CSV from in and
// writes `timestamp,value,anomaly_score` to out. Nothing is written if the
// input is malformed.
func Detect(cfg config.DetectorConfig, in io.Reader, out io.Writer) error {
	rows, err := ReadCSV(in)
	if err != nil {
		return err
	}
	scores, err := Scores(cfg, rows)
	if err != nil {
		return err
	}
	return WriteCSV(out, rows, scores)
}
