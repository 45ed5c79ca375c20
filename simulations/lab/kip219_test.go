package lab

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/headroomhq/headroom/config"
)

// requestFrame encodes req as a client writes it, client-id "a".
func requestFrame(req kmsg.Request, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 'a')
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return frame(req.AppendTo(b))
}

// responseFrame encodes resp as kfake writes it.
func responseFrame(resp kmsg.Response, corr int32) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(corr))
	if resp.IsFlexible() {
		b = append(b, 0)
	}
	return frame(resp.AppendTo(b))
}

// readResponse reads one response frame from r into resp (its version set).
func readResponse(t *testing.T, r io.Reader, resp kmsg.Response) int32 {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("read response: %v", err)
	}
	rd := kbin.Reader{Src: body}
	corr := rd.Int32()
	if resp.IsFlexible() {
		kmsg.SkipTags(&rd)
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return corr
}

func produceExchange(version int16, bytes int) (kmsg.Request, kmsg.Response, kmsg.Response) {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = version, -1, 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "a.events"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = make([]byte, bytes)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = version
	st := kmsg.NewProduceResponseTopic()
	st.Topic = "a.events"
	sp := kmsg.NewProduceResponseTopicPartition()
	sp.BaseOffset = 41
	st.Partitions = append(st.Partitions, sp)
	resp.Topics = append(resp.Topics, st)
	got := kmsg.NewPtrProduceResponse()
	got.Version = version
	return req, resp, got
}

func fetchExchange(version int16, bytes int) (kmsg.Request, kmsg.Response, kmsg.Response) {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes = version, 50<<20
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	st := kmsg.NewFetchResponseTopic()
	st.Topic = "a.events"
	sp := kmsg.NewFetchResponseTopicPartition()
	sp.HighWatermark = 99
	sp.RecordBatches = make([]byte, bytes)
	st.Partitions = append(st.Partitions, sp)
	resp.Topics = append(resp.Topics, st)
	got := kmsg.NewPtrFetchResponse()
	got.Version = version
	return req, resp, got
}

// TestKIP219 plays one request and its response through a broker
// connection on synctest's clock. A request that puts its client over its
// quota is answered with throttle_time_ms set; a client that knows KIP-219
// gets the response at once and the connection stays muted (the write that
// kfake waits on before it processes the next request does not return)
// for the throttle time; an older client's response is held for that long
// instead. A throttled fetch is answered without its records.
//
// The expectations are Kafka's arithmetic, not the lab's code: a fresh
// sensor's window is (11 − 1) × 1 s = 10 s, so 30000 bytes read as
// 3000 B/s against a 1000 B/s quota, and the throttle time is
// (3000 − 1000) / 1000 × 10 s = 20 s. The bytes beyond what the quota
// allows in the window are 30000 − 1000 × 10 = 20000.
func TestKIP219(t *testing.T) {
	const (
		quota        = 1000
		requestBytes = 30000
		wantThrottle = 20 * time.Second
		wantDelayed  = 20000
	)
	cases := []struct {
		name            string
		produce         bool
		version         int16
		clientThrottles bool
	}{
		{"produce v7 (KIP-219)", true, 7, true},
		{"produce v9, flexible", true, 9, true},
		{"produce v5, before KIP-219", true, 5, false},
		{"fetch v11 (KIP-219)", false, 11, true},
		{"fetch v12, flexible", false, 12, true},
		{"fetch v7, before KIP-219", false, 7, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, b := testCluster(time.Now, DefaultWindow, Rates{Produce: quota, Fetch: quota})
				server, client := net.Pipe()
				defer client.Close()
				w := newWireConn(server, c, b)
				defer w.Close()
				exchange := fetchExchange
				if tc.produce {
					exchange = produceExchange
				}
				req, resp, got := exchange(tc.version, requestBytes)
				w.scanRequests(requestFrame(req, 9))

				start := time.Now()
				muteEnded := make(chan time.Duration, 1)
				go func() {
					if _, err := w.Write(responseFrame(resp, 9)); err != nil {
						t.Errorf("write: %v", err)
					}
					muteEnded <- time.Since(start)
				}()
				if corr := readResponse(t, client, got); corr != 9 {
					t.Errorf("correlation id %d, want 9", corr)
				}
				arrived := time.Since(start)
				ended := <-muteEnded

				wantArrival := time.Duration(0)
				if !tc.clientThrottles {
					wantArrival = wantThrottle
				}
				if arrived != wantArrival || ended != wantThrottle {
					t.Errorf("response arrived after %s and the connection was released after %s, want %s and %s", arrived, ended, wantArrival, wantThrottle)
				}
				e := c.Enforcement()["a"]
				switch got := got.(type) {
				case *kmsg.ProduceResponse:
					if got.ThrottleMillis != int32(wantThrottle/time.Millisecond) {
						t.Errorf("throttle_time_ms %d, want %d", got.ThrottleMillis, wantThrottle/time.Millisecond)
					}
					if len(got.Topics) != 1 || len(got.Topics[0].Partitions) != 1 || got.Topics[0].Partitions[0].BaseOffset != 41 {
						t.Errorf("the response's partitions changed: %+v", got.Topics)
					}
					want := Enforcement{Throttled: 1, ThrottleTime: wantThrottle, Delayed: wantDelayed}
					if e.Produce != want || e.Fetch != (Enforcement{}) {
						t.Errorf("enforcement %+v, want produce %+v", e, want)
					}
				case *kmsg.FetchResponse:
					if got.ThrottleMillis != int32(wantThrottle/time.Millisecond) {
						t.Errorf("throttle_time_ms %d, want %d", got.ThrottleMillis, wantThrottle/time.Millisecond)
					}
					if len(got.Topics) != 1 || len(got.Topics[0].Partitions) != 1 {
						t.Fatalf("the response's partitions changed: %+v", got.Topics)
					}
					if p := got.Topics[0].Partitions[0]; len(p.RecordBatches) != 0 || p.HighWatermark != 99 {
						t.Errorf("throttled fetch answered with %d record bytes (high watermark %d), want none (99)", len(p.RecordBatches), p.HighWatermark)
					}
					want := Enforcement{Throttled: 1, ThrottleTime: wantThrottle, Refused: requestBytes}
					if e.Fetch != want || e.Produce != (Enforcement{}) {
						t.Errorf("enforcement %+v, want fetch %+v", e, want)
					}
					b.mu.Lock()
					out := b.topics["a.events"].bytesOut
					s := b.sensors[sensorKey{dir: config.Fetch, tags: sensorTags{clientID: "a"}}]
					rate := s.bytes.rate(time.Now())
					b.mu.Unlock()
					if out != 0 || rate != 0 {
						t.Errorf("refused bytes were counted as served: bytes out %v, sensor rate %v", out, rate)
					}
				}
			})
		})
	}
}

// TestKIP219UnderQuota: a request within the quota is answered at once,
// unchanged, and nothing is muted or accounted.
func TestKIP219UnderQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, b := testCluster(time.Now, DefaultWindow, Rates{Produce: 1000, Fetch: 1000})
		w := newWireConn(nil, c, b)
		for _, exchange := range []func(int16, int) (kmsg.Request, kmsg.Response, kmsg.Response){produceExchange, fetchExchange} {
			req, resp, _ := exchange(9, 5000) // 500 B/s over the 10 s window
			w.scanRequests(requestFrame(req, 3))
			out := responseFrame(resp, 3)
			chunks := w.scanResponses(out)
			if len(chunks) != 1 || chunks[0].delay != 0 || chunks[0].mute != 0 || string(chunks[0].data) != string(out) {
				t.Errorf("%s under quota: written as %d chunks, first delay %s mute %s", kmsg.NameForKey(req.Key()), len(chunks), chunks[0].delay, chunks[0].mute)
			}
		}
		if e := c.Enforcement()["a"]; e != (Enforced{}) {
			t.Errorf("enforcement under quota: %+v", e)
		}
	})
}

// TestKIP219MuteEndsOnClose: closing the connection, or the cluster,
// releases a muted connection at once (so Close leaves nothing behind).
func TestKIP219MuteEndsOnClose(t *testing.T) {
	for _, closeWhat := range []string{"connection", "cluster"} {
		t.Run(closeWhat, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, b := testCluster(time.Now, DefaultWindow, Rates{Produce: 1000})
				server, client := net.Pipe()
				defer client.Close()
				w := newWireConn(server, c, b)
				defer w.Close()
				req, resp, got := produceExchange(7, 30000)
				w.scanRequests(requestFrame(req, 1))
				start := time.Now()
				released := make(chan time.Duration, 1)
				go func() { _, _ = w.Write(responseFrame(resp, 1)); released <- time.Since(start) }()
				readResponse(t, client, got)
				synctest.Wait() // the writer is muted
				if closeWhat == "connection" {
					w.Close()
				} else {
					close(c.done)
				}
				if d := <-released; d != 0 {
					t.Errorf("released after %s, want at once", d)
				}
			})
		})
	}
}

// TestKIP219AcksZeroMutesReads: a throttled produce request with acks=0
// has no response to carry the throttle time; the connection's next read
// waits it out, as Kafka mutes the channel.
func TestKIP219AcksZeroMutesReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, b := testCluster(time.Now, DefaultWindow, Rates{Produce: 1000})
		server, client := net.Pipe()
		defer client.Close()
		w := newWireConn(server, c, b)
		defer w.Close()
		req, _, _ := produceExchange(7, 30000)
		req.(*kmsg.ProduceRequest).Acks = 0
		start := time.Now()
		go func() {
			_, _ = client.Write(requestFrame(req, 1))
			_, _ = client.Write([]byte{0, 0, 0, 0})
		}()
		first := requestFrame(req, 1)
		if _, err := io.ReadFull(w, make([]byte, len(first))); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the throttled request itself was read after %s, want at once", d)
		}
		if _, err := io.ReadFull(w, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 20*time.Second {
			t.Errorf("the next read came after %s, want the throttle time 20s", d)
		}
		if e := c.Enforcement()["a"].Produce; e.Throttled != 1 || e.Delayed != 20000 {
			t.Errorf("enforcement %+v", e)
		}
	})
}

// recordBatch is a valid uncompressed record batch holding one record
// with a value of n bytes, as a client writes it.
func recordBatch(n int) []byte {
	rec := kbin.AppendInt8(nil, 0)   // attributes
	rec = kbin.AppendVarlong(rec, 0) // timestamp delta
	rec = kbin.AppendVarint(rec, 0)  // offset delta
	rec = kbin.AppendVarint(rec, -1) // null key
	rec = kbin.AppendVarintBytes(rec, make([]byte, n))
	rec = kbin.AppendVarint(rec, 0) // no headers
	ts := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{Magic: 2, FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1,
		Records: append(kbin.AppendVarint(nil, int32(len(rec))), rec...)}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func produceRecords(version int16, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = version, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "a.events"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestKIP219MutesTheConnection speaks the protocol by hand to a lab broker
// (a client library would wait out the throttle time itself and hide the
// broker's part). Two produce requests are pipelined on one connection;
// the first puts the client over its quota. Its response comes back at
// once with the throttle time Kafka's formula gives, and the second
// request is not processed until the connection's mute has ended. A
// request on a second connection of the same client is answered at once,
// throttled too: the quota is the entity's, the mute the connection's.
//
// The window is 11 × 100 ms. A fresh sensor's window is at least 1 s, so a
// first batch of B bytes reads as B/ws B/s, ws in [1 s, 1.1 s), and the
// throttle time (B/ws − Q)/Q × ws is B/Q − ws.
func TestKIP219MutesTheConnection(t *testing.T) {
	t.Parallel()
	const quota = 100_000
	c := startLab(t, Config{Brokers: 1, Window: Window{Samples: 11, SampleWindow: 100 * time.Millisecond},
		Projects: []Project{{Name: "a", Quota: Rates{Produce: quota}}}})
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", c.Bootstrap()[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	first, second := dial(), dial()
	if err := first.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	big := recordBatch(200_000)
	bigSecs := float64(len(big)) / quota
	minMs, maxMs := int32((bigSecs-1.1)*1000), int32((bigSecs-1.0)*1000)+1

	start := time.Now()
	if _, err := first.Write(append(requestFrame(produceRecords(7, big), 1), requestFrame(produceRecords(7, recordBatch(100)), 2)...)); err != nil {
		t.Fatal(err)
	}
	r1 := kmsg.NewPtrProduceResponse()
	r1.Version = 7
	if corr := readResponse(t, first, r1); corr != 1 {
		t.Fatalf("first response has correlation id %d", corr)
	}
	at1 := time.Since(start)
	throttle := time.Duration(r1.ThrottleMillis) * time.Millisecond
	t.Logf("%d bytes: response after %s, throttle_time_ms %d (want [%d, %d])", len(big), at1, r1.ThrottleMillis, minMs, maxMs)
	if r1.ThrottleMillis < minMs || r1.ThrottleMillis > maxMs {
		t.Fatalf("throttle_time_ms %d, want in [%d, %d]", r1.ThrottleMillis, minMs, maxMs)
	}
	if at1 > throttle/2 {
		t.Errorf("the throttled response came after %s, want at once (well within the throttle time %s)", at1, throttle)
	}
	if ec := r1.Topics[0].Partitions[0].ErrorCode; ec != 0 {
		t.Errorf("the batch was not appended: error code %d", ec)
	}

	// Another connection of the same client, while the first is muted.
	sent := time.Now()
	if _, err := second.Write(requestFrame(produceRecords(7, recordBatch(100)), 7)); err != nil {
		t.Fatal(err)
	}
	r3 := kmsg.NewPtrProduceResponse()
	r3.Version = 7
	readResponse(t, second, r3)
	if d := time.Since(sent); d > throttle/2 || r3.ThrottleMillis <= 0 {
		t.Errorf("second connection: answered after %s with throttle_time_ms %d, want at once and throttled", d, r3.ThrottleMillis)
	}

	r2 := kmsg.NewPtrProduceResponse()
	r2.Version = 7
	if corr := readResponse(t, first, r2); corr != 2 {
		t.Fatalf("second response has correlation id %d", corr)
	}
	gap := time.Since(start) - at1
	t.Logf("the pipelined request was answered %s after the throttled one", gap)
	// Timers never fire early; the response to the first request may
	// take a little time on the loopback to arrive after its write.
	if gap < throttle-20*time.Millisecond {
		t.Errorf("the pipelined request was answered %s after the throttled response, want at least the mute %s", gap, throttle)
	}
	e := c.Enforcement()["a"].Produce
	if e.Throttled < 2 || e.ThrottleTime < throttle {
		t.Errorf("accounted %+v, want at least 2 throttled responses and %s", e, throttle)
	}
}

// TestFetchCappedToTheQuotaWindow: Kafka caps a consumer's fetch at what
// its quota allows in the window, (quota.window.num − 1) ×
// quota.window.size × quota, so that no response is too large to be
// served. With a 20 kB/s quota and 11 × 100 ms samples that is 20 kB; a
// consumer without a quota gets all it asked for.
func TestFetchCappedToTheQuotaWindow(t *testing.T) {
	t.Parallel()
	const quota = 20_000
	const wantCap = quota * 10 * 0.1
	c := startLab(t, Config{Brokers: 1, Window: Window{Samples: 11, SampleWindow: 100 * time.Millisecond},
		Projects: []Project{{Name: "a", Quota: Rates{Fetch: quota}}, {Name: "b"}}})
	conn, err := net.Dial("tcp", c.Bootstrap()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	batch := recordBatch(1000)
	const batches = 100
	for _, topic := range []string{"a.events", "b.events"} {
		for i := range batches {
			req := produceRecords(7, batch)
			req.Topics[0].Topic = topic
			if _, err := conn.Write(requestFrame(req, int32(i))); err != nil {
				t.Fatal(err)
			}
			resp := kmsg.NewPtrProduceResponse()
			resp.Version = 7
			readResponse(t, conn, resp)
			if ec := resp.Topics[0].Partitions[0].ErrorCode; ec != 0 {
				t.Fatalf("produce to %s: error code %d", topic, ec)
			}
		}
	}
	for _, tc := range []struct {
		topic    string
		min, max int
	}{
		{"a.events", wantCap - 2*len(batch), wantCap},
		{"b.events", batches * len(batch), batches * len(batch)},
	} {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes, req.MinBytes, req.SessionEpoch = 11, -1, 50<<20, 1, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = tc.topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.LogStartOffset, rp.CurrentLeaderEpoch = 50<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if _, err := conn.Write(requestFrame(req, 1000)); err != nil {
			t.Fatal(err)
		}
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 11
		readResponse(t, conn, resp)
		got := 0
		for _, p := range resp.Topics[0].Partitions {
			got += len(p.RecordBatches)
		}
		t.Logf("%s: fetched %d bytes, want [%d, %d]", tc.topic, got, tc.min, tc.max)
		if got < tc.min || got > tc.max || resp.ThrottleMillis != 0 {
			t.Errorf("%s: fetched %d bytes (throttle_time_ms %d), want [%d, %d] unthrottled", tc.topic, got, resp.ThrottleMillis, tc.min, tc.max)
		}
	}
}
