package config

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Direction is the flow a byte rate or a quota belongs to: produce (bytes
// into the broker, Kafka's producer_byte_rate) or fetch (bytes out of the
// broker to consumers, consumer_byte_rate). Every stage uses this one type,
// from the collector's snapshot to the simulator. Its values are 0 and 1, so
// a [2] array indexes by it.
//
// As text (JSON, YAML, log attributes, Prometheus label values) it is
// spelled "produce" or "fetch".
type Direction uint8

// Directions.
const (
	Produce Direction = iota
	Fetch
)

// Directions lists both directions in order: produce, then fetch.
var Directions = [...]Direction{Produce, Fetch}

// String returns "produce" or "fetch".
func (d Direction) String() string {
	switch d {
	case Produce:
		return "produce"
	case Fetch:
		return "fetch"
	}
	return "direction(" + strconv.Itoa(int(d)) + ")"
}

// ParseDirection reads "produce" or "fetch" (exactly, as Headroom writes
// them).
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "produce":
		return Produce, nil
	case "fetch":
		return Fetch, nil
	}
	return 0, fmt.Errorf("invalid direction %q: want produce or fetch", s)
}

// MarshalText implements encoding.TextMarshaler, so that JSON, YAML and
// slog write the direction's name rather than its number.
func (d Direction) MarshalText() ([]byte, error) {
	if d > Fetch {
		return nil, fmt.Errorf("invalid direction %d: want produce (0) or fetch (1)", uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseDirection.
func (d *Direction) UnmarshalText(b []byte) error {
	v, err := ParseDirection(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler. Errors are returned as
// *yaml.TypeError with the line, as Rate's are, so that decoding continues
// and every problem is reported.
func (d *Direction) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a direction must be produce or fetch", n.Line)}}
	}
	v, err := ParseDirection(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}

// Entity is a Kafka client-quota entity: a user, a client id, or both. A
// project's entity in the configuration names at least one. Brokers label
// their quota metrics with the parts of the matched quota level, so an
// entity read from a broker may have either part empty.
type Entity struct {
	User     string `yaml:"user,omitempty" json:"user,omitempty"`
	ClientID string `yaml:"client_id,omitempty" json:"client_id,omitempty"`
}

// String renders the entity as Kafka tools do, e.g. "user=a,client-id=b".
func (e Entity) String() string {
	switch {
	case e.User != "" && e.ClientID != "":
		return "user=" + e.User + ",client-id=" + e.ClientID
	case e.User != "":
		return "user=" + e.User
	default:
		return "client-id=" + e.ClientID
	}
}
