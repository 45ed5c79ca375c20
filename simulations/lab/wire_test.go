package lab

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func testWire() *wireConn {
	now := time.Unix(1_700_000_000, 0)
	c := &Cluster{
		cfg:      Config{Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Window: DefaultWindow},
		quotas:   newQuotaTable(),
		owners:   map[string]*Project{},
		topicIDs: map[[16]byte]string{},
		done:     make(chan struct{}),
	}
	p := &Project{Name: "a", ClientID: "a", Topic: "a.events"}
	c.owners[p.Topic] = p
	b := newBrokerState(0, DefaultWindow, now)
	return &wireConn{c: c, b: b, inflight: map[int32]requestKey{}, closed: make(chan struct{})}
}

func frame(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

func fetchRequestHeader(version int16, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(kmsg.Fetch))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	return frame(append(b, 0xff, 0xff)) // null client id
}

// TestWireCountsFetchResponses feeds a request and its fetch response,
// split at every byte boundary, and checks that the record bytes are
// counted once for the topic.
func TestWireCountsFetchResponses(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 11
	topic := kmsg.NewFetchResponseTopic()
	topic.Topic = "a.events"
	part := kmsg.NewFetchResponseTopicPartition()
	part.RecordBatches = make([]byte, 777)
	topic.Partitions = append(topic.Partitions, part)
	resp.Topics = append(resp.Topics, topic)
	body := binary.BigEndian.AppendUint32(nil, 5) // correlation id
	body = resp.AppendTo(body)
	out := frame(body)
	for split := 0; split <= len(out); split += 7 {
		w := testWire()
		w.scanRequests(fetchRequestHeader(11, 5))
		w.scanResponses(out[:split])
		w.scanResponses(out[split:])
		if got := w.b.topics["a.events"]; got == nil || got.bytesOut != 777 || w.b.total.bytesOut != 777 {
			t.Fatalf("split %d: counted %+v", split, got)
		}
		if w.b.requests[requestKey{name: "Fetch", version: 11}] != 1 {
			t.Fatalf("split %d: requests %v", split, w.b.requests)
		}
	}
}

// FuzzWire feeds arbitrary bytes as requests and responses: the scanners
// must never panic and never block.
func FuzzWire(f *testing.F) {
	f.Add(fetchRequestHeader(11, 1), []byte{0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 1}, []byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, req, resp []byte) {
		w := testWire()
		w.scanRequests(fetchRequestHeader(12, 1))
		w.scanRequests(req)
		_ = w.scanResponses(resp)
	})
}

func FuzzCountRecords(f *testing.F) {
	f.Add(make([]byte, 61))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := countRecords(b); n < -1<<31 {
			t.Fatalf("count %d", n)
		}
	})
}
