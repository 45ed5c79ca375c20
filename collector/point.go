package collector

import "github.com/headroomhq/headroom/config"

// Kind is what a canonical point measures.
type Kind uint8

// Kinds of canonical points.
const (
	KindInvalid Kind = iota
	// KindBrokerBytes: a broker's total bytes (Dir).
	KindBrokerBytes
	// KindTopicBytes: bytes of topic Name (Dir) on a broker.
	KindTopicBytes
	// KindClientBytes: bytes of a client-quota entity (User, ClientID, Dir).
	KindClientBytes
	// KindThrottle: throttle time of a client-quota entity (User, ClientID, Dir).
	KindThrottle
	// KindRequestHandlerIdle: request-handler pool idle ratio 0..1.
	KindRequestHandlerIdle
	// KindNetworkProcessorIdle: network-processor idle ratio 0..1.
	KindNetworkProcessorIdle
	// KindReactorBusy: Redpanda reactor busy seconds of shard Name.
	KindReactorBusy
	// KindCPUSeconds: CPU seconds of cpu Name in mode Sub.
	KindCPUSeconds
	// KindNetBytes: network bytes of device Name, Sub "receive" or "transmit".
	KindNetBytes
	// KindDiskBytes: disk bytes of device Name, Sub "read" or "write".
	KindDiskBytes
	// KindFSSize and KindFSAvail: filesystem bytes of mountpoint Name.
	KindFSSize
	KindFSAvail
	// KindLag: consumer lag of Group on topic Name, Partition (-1: topic sum).
	KindLag
)

var kindNames = [...]string{"invalid", "broker_bytes", "topic_bytes", "client_bytes", "throttle",
	"request_handler_idle", "network_processor_idle", "reactor_busy", "cpu_seconds", "net_bytes",
	"disk_bytes", "fs_size", "fs_avail", "lag"}

// directional reports whether points of the kind carry a direction (Dir).
func (k Kind) directional() bool {
	switch k {
	case KindBrokerBytes, KindTopicBytes, KindClientBytes, KindThrottle:
		return true
	}
	return false
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// PointKey identifies a canonical series within one target.
type PointKey struct {
	Kind Kind
	// Dir is the direction of the byte and throttle kinds; the other
	// kinds have none, leave it zero and ignore it.
	Dir       config.Direction
	Name      string // topic, device, mountpoint, cpu or shard
	Sub       string // cpu mode, receive/transmit, read/write
	User      string
	ClientID  string
	Group     string
	Partition int32
}

// Point is one canonical sample. Counter points carry a monotonically
// increasing total; the Rater turns them into per-second rates. Gauge points
// (Counter false) are used as they are.
type Point struct {
	PointKey
	Value   float64
	Counter bool
}

// dir is the point's direction as text, or "" for kinds that have none.
func (k PointKey) dir() string {
	if !k.Kind.directional() {
		return ""
	}
	return k.Dir.String()
}
