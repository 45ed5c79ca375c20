package lab

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// testCluster is a cluster without brokers or kfake: enough for the
// enforcement and wire code, on the clock now. Project "a" (client-id a,
// topic a.events) has the given quotas; zero sets none.
func testCluster(now func() time.Time, w Window, quota Rates) (*Cluster, *brokerState) {
	c := &Cluster{
		cfg:      Config{Now: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Window: w},
		quotas:   newQuotaTable(),
		owners:   map[string]*Project{},
		topicIDs: map[[16]byte]string{},
		done:     make(chan struct{}),
	}
	p := &Project{Name: "a", ClientID: "a", Topic: "a.events"}
	c.owners[p.Topic] = p
	c.cfg.Projects = []Project{*p}
	for key, v := range map[string]float64{KeyProducerByteRate: quota.Produce, KeyConsumerByteRate: quota.Fetch} {
		if v > 0 {
			req := alterReq(entry(key, v, client(sp("a"))))
			errs, ents, ip := validateAlter(req)
			if errs[0] != nil {
				panic(errs[0])
			}
			c.quotas.apply(req, ents, ip)
		}
	}
	b := newBrokerState(0, w, now())
	c.brokers = []*brokerState{b}
	return c, b
}

func testWire() *wireConn {
	now := time.Unix(1_700_000_000, 0)
	c, b := testCluster(func() time.Time { return now }, DefaultWindow, Rates{})
	return newWireConn(nil, c, b)
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
		var written []byte
		for _, part := range [][]byte{out[:split], out[split:]} {
			for _, ch := range w.scanResponses(part) {
				if ch.delay != 0 || ch.mute != 0 {
					t.Fatalf("split %d: an unthrottled response was delayed %s and muted %s", split, ch.delay, ch.mute)
				}
				written = append(written, ch.data...)
			}
		}
		if !bytes.Equal(written, out) {
			t.Fatalf("split %d: an unthrottled response was rewritten", split)
		}
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
	preq, presp, _ := produceExchange(9, 100)
	f.Add(requestFrame(preq, 1), responseFrame(presp, 1))
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
