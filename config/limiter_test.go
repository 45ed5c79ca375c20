package config

import (
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestLimiterValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(c *LimiterConfig)
		want []string // field paths with errors
	}{
		{"defaults", func(*LimiterConfig) {}, nil},
		{"enforce with overcommit", func(c *LimiterConfig) { c.Mode, c.Overcommit = ModeEnforce, true }, nil},
		{"unknown mode", func(c *LimiterConfig) { c.Mode = "auto" }, []string{"mode"}},
		{"no write budget", func(c *LimiterConfig) { c.WriteBudget = 0 }, []string{"write_budget"}},
		{"hysteresis one", func(c *LimiterConfig) { c.Hysteresis = 1 }, []string{"hysteresis"}},
		{"hysteresis NaN", func(c *LimiterConfig) { c.Hysteresis = math.NaN() }, []string{"hysteresis"}},
		{"zero min quota", func(c *LimiterConfig) { c.MinQuota = 0 }, []string{"min_quota"}},
		{"negative headroom", func(c *LimiterConfig) { c.DemandHeadroom = -0.1 }, []string{"demand_headroom"}},
		{"NaN lender spare", func(c *LimiterConfig) { c.LenderSpare = math.NaN() }, []string{"lender_spare"}},
		{"lender spare above one", func(c *LimiterConfig) { c.LenderSpare = 2 }, []string{"lender_spare"}},
		{"tiny window", func(c *LimiterConfig) { c.ThrottleWindow = model.Duration(time.Millisecond) }, []string{"throttle_window"}},
		{"zero batch", func(c *LimiterConfig) { c.BatchSize = 0 }, []string{"batch_size"}},
		{"too many attempts", func(c *LimiterConfig) { c.WriteAttempts = 100 }, []string{"write_attempts"}},
		{"no backoff", func(c *LimiterConfig) { c.WriteBackoff = 0 }, []string{"write_backoff"}},
		{"several at once", func(c *LimiterConfig) { c.BatchSize, c.WriteAttempts = -1, 0 }, []string{"batch_size", "write_attempts"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultLimiterConfig()
			tc.edit(&c)
			var got []string
			for _, err := range c.Validate() {
				var fe FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("error %v is not a FieldError", err)
				}
				got = append(got, fe.Path)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("errors at %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLimiterSectionLoads(t *testing.T) {
	base, err := os.ReadFile("testdata/good/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		section string
		check   func(t *testing.T, c *Config)
		errs    []string
	}{
		{
			name: "every field",
			section: `limiter:
  mode: enforce
  overcommit: true
  write_budget: 10
  hysteresis: 0.02
  min_quota: 4KiB/s
  demand_headroom: 0.2
  lender_spare: 0.05
  throttle_window: 30s
  batch_size: 5
  write_attempts: 3
  write_backoff: 1s
`,
			check: func(t *testing.T, c *Config) {
				l := c.Limiter
				if l.Mode != ModeEnforce || !l.Overcommit || l.WriteBudget != 10 || l.MinQuota != 4096 ||
					l.DemandHeadroom != 0.2 || l.LenderSpare != 0.05 || time.Duration(l.ThrottleWindow) != 30*time.Second ||
					l.BatchSize != 5 || l.WriteAttempts != 3 || time.Duration(l.WriteBackoff) != time.Second {
					t.Fatalf("limiter %+v", l)
				}
			},
		},
		{
			name:    "defaults fill the rest",
			section: "limiter:\n  mode: enforce\n",
			check: func(t *testing.T, c *Config) {
				if c.Limiter.LenderSpare != 0.1 || c.Limiter.BatchSize != 25 || time.Duration(c.Limiter.ThrottleWindow) != 11*time.Second {
					t.Fatalf("limiter %+v", c.Limiter)
				}
			},
		},
		{name: "unknown field", section: "limiter:\n  lender_spares: 0.1\n", errs: []string{`unknown field "lender_spares"`}},
		{name: "bad values", section: "limiter:\n  lender_spare: 3\n  batch_size: 0\n", errs: []string{"limiter.lender_spare", "limiter.batch_size"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(append(append([]byte{}, base...), []byte(tc.section)...))
			if tc.errs == nil {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, c)
				return
			}
			if err == nil {
				t.Fatal("loaded")
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
		})
	}
}
