package collector

import (
	"time"

	"github.com/headroomhq/headroom/config"
)

// State says how far a value can be trusted.
type State string

// States of a value.
const (
	// Fresh: measured this round.
	Fresh State = "fresh"
	// Pending: the counter was seen for the first time (or after a gap), so
	// no rate can be computed yet. Value is 0.
	Pending State = "pending"
	// Stale: the source failed this round; Value is the last good value,
	// younger than the configured stale_after.
	Stale State = "stale"
	// Missing: no usable value. Value is 0.
	Missing State = "missing"
)

// Value is one number with its trust state. Later stages must hold (not
// guess) when State is not Fresh.
type Value struct {
	Value float64 `json:"value"`
	State State   `json:"state"`
}

// OK reports whether the value was measured this round.
func (v Value) OK() bool { return v.State == Fresh }

// Snapshot is the canonical view of one collector round. It is a plain data
// type: no methods with side effects, no pointers into collector state, safe
// to copy, compare and encode as JSON. Slices are sorted so that two
// snapshots of the same data are equal.
//
// Units: bytes/s for byte rates; milliseconds for throttle time; fractions
// 0..1 for idle and CPU; bytes for filesystem sizes; messages for lag.
type Snapshot struct {
	// Time is the round's timestamp (from the injected clock).
	Time time.Time `json:"time"`
	// Brokers holds per-broker totals and idle ratios.
	Brokers []BrokerStats `json:"brokers"`
	// Projects holds per broker, project and direction byte rates.
	Projects []ProjectRate `json:"projects"`
	// Throttles holds throttle time per client-quota entity and broker.
	Throttles []EntityThrottle `json:"throttles"`
	// Hosts holds node_exporter host figures.
	Hosts []HostStats `json:"hosts"`
	// Lag holds consumer lag per group, topic and partition from exporter
	// targets (kminion, kafka-exporter). Admin-API lag is in package
	// kafkaadmin.
	Lag []PartitionLag `json:"lag"`
	// Targets holds the health of every target scraped this round.
	Targets []TargetStatus `json:"targets"`
	// Unowned is the byte rate per broker and direction of topics no
	// project owns (only for brokers mapped through topics).
	Unowned []UnownedRate `json:"unowned,omitempty"`
	// Exempt is the byte rate per broker and direction of each of the
	// cluster's exempt entities (from per-entity byte-rate metrics).
	Exempt []ExemptRate `json:"exempt,omitempty"`
}

// BrokerKey identifies a broker: its cluster and id as configured on the
// target, or its target address when no id is configured.
type BrokerKey struct {
	Cluster string `json:"cluster"`
	Broker  string `json:"broker"`
}

// BrokerStats are the totals of one broker.
type BrokerStats struct {
	BrokerKey
	// Target is the scrape target the figures come from.
	Target string `json:"target"`
	// BytesIn and BytesOut are the broker's total byte rates, from the
	// topic-less broker series (never the sum of per-topic series plus
	// the total).
	BytesIn  Value `json:"bytes_in"`
	BytesOut Value `json:"bytes_out"`
	// RequestHandlerIdle and NetworkProcessorIdle are 0..1. For Redpanda,
	// RequestHandlerIdle is 1 - mean reactor utilisation and
	// NetworkProcessorIdle is Missing.
	RequestHandlerIdle   Value `json:"request_handler_idle"`
	NetworkProcessorIdle Value `json:"network_processor_idle"`
}

// Source names where a project's rate came from.
type Source string

// Sources of project rates.
const (
	// FromClientQuota: per-client quota metrics of the project's entity.
	FromClientQuota Source = "client_quota"
	// FromTopics: per-topic metrics of the topics the project owns.
	FromTopics Source = "topics"
)

// ProjectRate is one project's byte rate on one broker in one direction.
type ProjectRate struct {
	BrokerKey
	Project   string           `json:"project"`
	Direction config.Direction `json:"direction"`
	Rate      Value            `json:"rate"`
	Source    Source           `json:"source"`
}

// UnownedRate is the byte rate of topics that no project owns.
type UnownedRate struct {
	BrokerKey
	Direction config.Direction `json:"direction"`
	Rate      Value            `json:"rate"`
}

// ExemptRate is the byte rate of one exempt entity on one broker.
type ExemptRate struct {
	BrokerKey
	// Name is the exempt entity's configured name.
	Name      string           `json:"name"`
	Direction config.Direction `json:"direction"`
	Rate      Value            `json:"rate"`
}

// EntityThrottle is the throttle time of one entity on one broker. For
// Kafka it is the broker's average throttle time in ms; for Redpanda it is
// throttle ms accrued per second.
type EntityThrottle struct {
	BrokerKey
	// Entity is the client-quota entity as the broker labels it. Labels
	// follow the matched quota level, so either part may be empty.
	Entity    config.Entity    `json:"entity"`
	Direction config.Direction `json:"direction"`
	// Project is the configured project the entity belongs to, if any.
	Project    string `json:"project,omitempty"`
	ThrottleMs Value  `json:"throttle_ms"`
}

// HostStats are node_exporter figures of one host.
type HostStats struct {
	Host   string `json:"host"`
	Target string `json:"target"`
	// CPUBusy is 1 - idle share over all CPUs (iowait counts as idle is
	// NOT assumed: iowait and steal count as busy).
	CPUBusy Value `json:"cpu_busy"`
	// CPUs is the number of CPUs seen.
	CPUs int `json:"cpus"`
	// NetReceive and NetTransmit are bytes/s summed over devices except
	// loopback and virtual ones (lo, veth*, docker*, br-*, ifb*, virbr*).
	NetReceive  Value `json:"net_receive"`
	NetTransmit Value `json:"net_transmit"`
	// DiskRead and DiskWrite are bytes/s summed over devices.
	DiskRead  Value `json:"disk_read"`
	DiskWrite Value `json:"disk_write"`
	// Filesystems holds size and available bytes per mountpoint.
	Filesystems []Filesystem `json:"filesystems"`
}

// Filesystem is one mounted filesystem.
type Filesystem struct {
	Mountpoint string  `json:"mountpoint"`
	SizeBytes  float64 `json:"size_bytes"`
	AvailBytes float64 `json:"avail_bytes"`
}

// PartitionLag is consumer lag in messages. Partition is -1 when the source
// only gives a per-topic sum.
type PartitionLag struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Lag       Value  `json:"lag"`
	Target    string `json:"target"`
}

// TargetStatus is the health of one target.
type TargetStatus struct {
	Target  string `json:"target"`
	Profile string `json:"profile"`
	// Up is true when this round's scrape succeeded.
	Up bool `json:"up"`
	// Stale is true when the last success is older than stale_after (or
	// there never was one).
	Stale bool `json:"stale"`
	// LastSuccess is the time of the last good scrape (zero if none).
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Error is this round's error, empty when Up.
	Error string `json:"error,omitempty"`
	// Samples is the number of samples parsed this round.
	Samples int `json:"samples"`
	// Duration is how long the scrape took.
	Duration time.Duration `json:"duration"`
}
