package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Rate is a byte rate in bytes per second. In YAML it accepts a plain number
// of bytes per second or a human form such as "50MiB/s", "100MB/s", "1.5GB/s"
// or "512KiB/s". Decimal units (kB, MB, GB, TB) are powers of 1000, binary
// units (KiB, MiB, GiB, TiB) powers of 1024. The "/s" suffix is optional.
type Rate float64

var rateUnits = []struct {
	suffix string
	mult   float64
}{
	// Longest suffixes first so that "MiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseRate parses a byte rate such as "50MiB/s". It rejects negative, NaN
// and infinite values.
func ParseRate(s string) (Rate, error) {
	in := strings.TrimSpace(s)
	str := strings.TrimSuffix(in, "/s")
	str = strings.TrimSpace(str)
	if str == "" {
		return 0, fmt.Errorf("invalid rate %q: empty", s)
	}
	mult := 1.0
	for _, u := range rateUnits {
		if strings.HasSuffix(str, u.suffix) {
			mult = u.mult
			str = strings.TrimSpace(strings.TrimSuffix(str, u.suffix))
			break
		}
	}
	switch strings.ToLower(strings.TrimLeft(str, "+-.")) {
	case "nan", "inf", "infinity":
		return 0, fmt.Errorf("invalid rate %q: must be a finite number", s)
	}
	if str != "" && strings.ContainsAny(str[len(str)-1:], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return 0, fmt.Errorf("invalid rate %q: unknown unit (use B, kB, MB, GB, KiB, MiB, GiB, optionally with /s)", s)
	}
	v, err := strconv.ParseFloat(str, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("invalid rate %q: must be a finite number", s)
	}
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q: not a number", s)
	}
	v *= mult
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("invalid rate %q: must be finite", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid rate %q: must not be negative", s)
	}
	return Rate(v), nil
}

// String renders the rate with the largest binary unit that keeps the value
// at or above one, for example "50MiB/s".
func (r Rate) String() string {
	v := float64(r)
	units := []struct {
		name string
		mult float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if math.Abs(v) >= u.mult {
			return strconv.FormatFloat(v/u.mult, 'f', -1, 64) + u.name + "/s"
		}
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + "B/s"
}

// BytesPerSecond returns the rate as a float64.
func (r Rate) BytesPerSecond() float64 { return float64(r) }

// UnmarshalYAML implements yaml.Unmarshaler. Errors are returned as
// *yaml.TypeError so that decoding continues and every problem is reported.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a rate must be a scalar such as 50MiB/s", n.Line)}}
	}
	v, err := ParseRate(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*r = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (r Rate) MarshalYAML() (any, error) { return r.String(), nil }

// UnmarshalJSON accepts a number of bytes/s or a string with units.
func (r *Rate) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := ParseRate(str)
		if err != nil {
			return err
		}
		*r = v
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("invalid rate %s: want bytes/s or a string such as \"50MiB/s\"", s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("invalid rate %s: must be finite and not negative", s)
	}
	*r = Rate(v)
	return nil
}
