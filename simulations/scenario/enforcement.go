package scenario

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/headroomhq/headroom/config"
)

// Kafka's quota window defaults: quota.window.num and
// quota.window.size.seconds.
const (
	DefaultWindowSamples = 11
	DefaultWindowSample  = time.Second
	// DefaultClientBuffer is what a client holds per broker while it is
	// muted before it drops: the producer's buffer.memory default.
	DefaultClientBuffer = 32 << 20
	// DefaultRequestSize is the size of one produce or fetch request: the
	// client's max.request.size and the broker's fetch.max.bytes order of
	// magnitude. Kafka accepts a request whole and throttles after it, so
	// a saturated client overshoots its quota by about one request.
	DefaultRequestSize = 1 << 20
)

// Enforcement describes how the cluster enforces quotas, as the simulator
// models it: Kafka's windowed byte rate per client and broker, the throttle
// time it earns, the client muted for that time (KIP-219) and the client's
// backlog while muted. Every field is optional; absent fields take Kafka's
// defaults. Explicit zero or negative values are errors.
type Enforcement struct {
	// WindowSamples is quota.window.num: how many samples the rate is
	// averaged over. Default 11.
	WindowSamples *int `yaml:"window_samples"`
	// WindowSample is quota.window.size.seconds: the length of one sample.
	// Default 1s. The round must be a whole number of samples.
	WindowSample *Duration `yaml:"window_sample"`
	// ClientBuffer is how many bytes a client holds per broker while it
	// waits (muted, or behind its backlog) before it drops new data.
	// 0 drops at once. Default 32MiB.
	ClientBuffer *Bytes `yaml:"client_buffer"`
	// RequestSize is the size of one request. Default 1MiB.
	RequestSize *Bytes `yaml:"request_size"`
}

// Window returns the number of samples and the sample length in force.
func (e *Enforcement) Window() (int, time.Duration) {
	n, s := DefaultWindowSamples, DefaultWindowSample
	if e.WindowSamples != nil {
		n = *e.WindowSamples
	}
	if e.WindowSample != nil {
		s = time.Duration(*e.WindowSample)
	}
	return n, s
}

// Buffer returns the client buffer in force, in bytes.
func (e *Enforcement) Buffer() float64 {
	if e.ClientBuffer == nil {
		return DefaultClientBuffer
	}
	return float64(*e.ClientBuffer)
}

// Request returns the request size in force, in bytes.
func (e *Enforcement) Request() float64 {
	if e.RequestSize == nil {
		return DefaultRequestSize
	}
	return float64(*e.RequestSize)
}

func (e *Enforcement) validate(round time.Duration) []error {
	var errs problems
	if e.WindowSamples != nil && (*e.WindowSamples < 1 || *e.WindowSamples > 1000) {
		errs.add("enforcement.window_samples", "must be in [1, 1000], got %d", *e.WindowSamples)
	}
	if e.WindowSample != nil {
		s := time.Duration(*e.WindowSample)
		switch {
		case s <= 0:
			errs.add("enforcement.window_sample", "must be above zero, got %s", s)
		case round > 0 && round%s != 0:
			errs.add("enforcement.window_sample", "the round (%s) must be a whole number of samples, got %s", round, s)
		case round > 0 && round/s > 1000:
			errs.add("enforcement.window_sample", "more than 1000 samples per round (%s / %s)", round, s)
		}
	}
	if e.ClientBuffer != nil && *e.ClientBuffer < 0 {
		errs.add("enforcement.client_buffer", "must not be negative, got %s", *e.ClientBuffer)
	}
	if e.RequestSize != nil && !(*e.RequestSize > 0) {
		errs.add("enforcement.request_size", "must be above zero, got %s", *e.RequestSize)
	}
	return errs
}

// Bytes is a size in bytes. In YAML it takes a plain number or a human
// form such as 32MiB or 1.5MB (the units of config.Rate, without /s). A
// negative size decodes, so that validation can name its field.
type Bytes float64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a size must be a scalar such as 32MiB", n.Line)}}
	}
	s := strings.TrimSpace(n.Value)
	if strings.HasSuffix(s, "/s") {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid size %q: a size has no /s", n.Line, s)}}
	}
	neg := strings.HasPrefix(s, "-")
	v, err := config.ParseRate(strings.TrimPrefix(s, "-"))
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid size %q: %v", n.Line, s, strings.TrimPrefix(err.Error(), "invalid rate "+fmt.Sprintf("%q", strings.TrimPrefix(s, "-"))+": "))}}
	}
	*b = Bytes(v)
	if neg {
		*b = -*b
	}
	return nil
}

func (b Bytes) String() string {
	if b < 0 {
		return "-" + strings.TrimSuffix((-config.Rate(b)).String(), "/s")
	}
	return strings.TrimSuffix(config.Rate(b).String(), "/s")
}

// Duration is a duration in Prometheus form (1s, 500ms, 1m). A negative
// duration decodes, so that validation can name its field.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	neg := strings.HasPrefix(s, "-")
	v, err := model.ParseDuration(strings.TrimPrefix(s, "-"))
	if n.Kind != yaml.ScalarNode || err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid duration %q: want a duration such as 1s", n.Line, s)}}
	}
	*d = Duration(v)
	if neg {
		*d = -*d
	}
	return nil
}
