package round

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogProblemsOnAppearAndClear(t *testing.T) {
	var buf bytes.Buffer
	l := &Loop{opts: Options{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}}
	for _, tc := range []struct {
		problems []string
		want     []string // log lines of this round, in order
	}{
		{[]string{"cluster a: read placement: timeout", "cluster a: read placement: timeout"},
			[]string{`level=WARN msg="round problem" round=1 problem="cluster a: read placement: timeout"`}},
		{[]string{"cluster a: read placement: timeout"}, nil},
		{[]string{"cluster b: describe client quotas: refused"}, []string{
			`level=WARN msg="round problem" round=3 problem="cluster b: describe client quotas: refused"`,
			`level=INFO msg="round problem cleared" round=3 problem="cluster a: read placement: timeout"`}},
		{nil, []string{`level=INFO msg="round problem cleared" round=4 problem="cluster b: describe client quotas: refused"`}},
		{nil, nil},
	} {
		buf.Reset()
		l.index++
		l.logProblems(&Outcome{Index: l.index, Problems: tc.problems})
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			_, rest, _ := strings.Cut(line, " ") // drop time=...
			got = append(got, rest)
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Fatalf("round %d logged\n%s\nwant\n%s", l.index, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}
