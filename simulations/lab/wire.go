package lab

import (
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/headroomhq/headroom/config"
)

// wireListener wraps a broker's listener. Each connection follows its own
// request and response streams and enforces client quotas on them as a
// Kafka 2.0+ broker does (KIP-219):
//
//   - produce requests are decoded as they are read; when their response is
//     written, their record bytes are charged to the owners of their topics
//     and the response carries the throttle time;
//   - fetch responses are decoded as kfake writes them: their record bytes
//     are charged, and a throttled fetch is answered with no records (the
//     bytes are taken back from the sensor) and its throttle time;
//   - a throttled response to a client that knows KIP-219 (produce v6+,
//     fetch v8+) is written at once, and the connection is then muted for
//     the throttle time: the write does not return until the mute ends,
//     and kfake processes a connection's requests one at a time, each only
//     after the previous response's write returned, as Kafka's socket
//     server does. An older client's response is held for the throttle
//     time instead (the connection is muted meanwhile as well).
type wireListener struct {
	net.Listener
	c *Cluster
	b *brokerState
}

func (l *wireListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newWireConn(conn, l.c, l.b), nil
}

func newWireConn(conn net.Conn, c *Cluster, b *brokerState) *wireConn {
	return &wireConn{Conn: conn, c: c, b: b, inflight: map[int32]inflightReq{}, closed: make(chan struct{})}
}

// maxFrame bounds the frames the lab follows; kfake never writes more (a
// fetch is capped far lower by clients) and clients send less. Past it the
// lab stops following the connection rather than buffer without bound.
const maxFrame = 128 << 20

// The first versions whose clients throttle themselves on the throttle
// time of a response (KIP-219): Kafka answers them at once and mutes the
// connection, and holds the response of older versions instead.
const (
	produceClientThrottleVersion = 6
	fetchClientThrottleVersion   = 8
)

// inflightReq is a request whose response the lab must handle.
type inflightReq struct {
	rk requestKey
	// produce is the record bytes of a produce request per payer.
	produce map[payer]float64
	// clientID is the client id a fetch request carried: the payer of
	// the bytes of topics no project owns.
	clientID string
}

type wireConn struct {
	net.Conn
	c *Cluster
	b *brokerState

	mu       sync.Mutex
	inflight map[int32]inflightReq // by correlation id

	// request stream state (reader goroutine only)
	rHdr [12]byte
	rN   int
	// rFrame is the rest of the request frame being read: passed over, or
	// a produce request collected after its 12-byte prefix.
	rFrame frameRest
	rRK    requestKey
	rCorr  int32
	rBad   bool
	// rMute is a mute to serve before the next read: a throttled produce
	// request with acks=0 gets no response to carry it.
	rMute time.Duration

	// response stream state (writer goroutine only)
	wHdr []byte // size and correlation id of the frame being read
	// wFrame is the rest of the response frame being read: passed
	// through, or a produce or fetch response collected whole (its header
	// included).
	wFrame frameRest
	wReq   inflightReq
	wBad   bool

	closeOnce sync.Once
	closed    chan struct{}
}

func (w *wireConn) Close() error {
	w.closeOnce.Do(func() { close(w.closed) })
	return w.Conn.Close()
}

// hold blocks for d, or until the connection or the cluster closes; it
// reports whether d passed.
func (w *wireConn) hold(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.closed:
	case <-w.c.done:
	}
	return false
}

func (w *wireConn) Read(p []byte) (int, error) {
	if d := w.rMute; d > 0 {
		w.rMute = 0
		if !w.hold(d) {
			return 0, net.ErrClosed
		}
	}
	n, err := w.Conn.Read(p)
	if n > 0 && !w.rBad {
		w.scanRequests(p[:n])
	}
	return n, err
}

// frameRest is what is left of the frame a stream is in once its header is
// read: bytes to pass over, or bytes to collect until the frame is whole.
// Both streams of a connection follow their frames with one.
type frameRest struct {
	skip int    // bytes still to pass over
	need int    // bytes still to collect into body
	body []byte // what is collected of the frame so far
}

// busy reports whether the stream is inside a frame's rest, so the next
// bytes are not a header.
func (f *frameRest) busy() bool { return f.skip > 0 || f.need > 0 }

// feed takes the front of p that belongs to the frame's rest. It returns
// the bytes passed over, what is left of p, and whether body just became
// whole.
func (f *frameRest) feed(p []byte) (passed, rest []byte, whole bool) {
	if f.skip > 0 {
		k := min(f.skip, len(p))
		f.skip -= k
		return p[:k], p[k:], false
	}
	k := min(f.need, len(p))
	f.body = append(f.body, p[:k]...)
	f.need -= k
	return nil, p[k:], f.need == 0
}

func (w *wireConn) scanRequests(p []byte) {
	for len(p) > 0 {
		if w.rFrame.busy() {
			var whole bool
			_, p, whole = w.rFrame.feed(p)
			if whole {
				if w.rRK.name == kmsg.NameForKey(int16(kmsg.Fetch)) {
					w.fetchRequest(w.rRK, w.rCorr, w.rFrame.body)
				} else {
					w.produceRequest(w.rRK, w.rCorr, w.rFrame.body)
				}
				w.rFrame.body = w.rFrame.body[:0]
			}
			continue
		}
		k := copy(w.rHdr[w.rN:], p)
		w.rN += k
		p = p[k:]
		if w.rN < len(w.rHdr) {
			return
		}
		w.rN = 0
		size := int(int32(binary.BigEndian.Uint32(w.rHdr[0:4])))
		if size < 8 || size > maxFrame {
			w.rBad = true
			return
		}
		key := int16(binary.BigEndian.Uint16(w.rHdr[4:6]))
		version := int16(binary.BigEndian.Uint16(w.rHdr[6:8]))
		corr := int32(binary.BigEndian.Uint32(w.rHdr[8:12]))
		rk := requestKey{name: kmsg.NameForKey(key), version: version}
		w.b.mu.Lock()
		w.b.requests[rk]++
		w.b.mu.Unlock()
		switch {
		case (key == int16(kmsg.Produce) || key == int16(kmsg.Fetch)) && size > 8:
			w.rFrame.need, w.rRK, w.rCorr = size-8, rk, corr
		case key == int16(kmsg.Fetch):
			w.mu.Lock()
			w.inflight[corr] = inflightReq{rk: rk}
			w.mu.Unlock()
			w.rFrame.skip = size - 8
		default:
			w.rFrame.skip = size - 8
		}
	}
}

// fetchRequest remembers the client id of a fetch request (body after the
// size, key, version and correlation id) until its response is written.
func (w *wireConn) fetchRequest(rk requestKey, corr int32, body []byte) {
	r := kbin.Reader{Src: body}
	var clientID string
	if id := r.NullableString(); id != nil {
		clientID = *id
	}
	w.mu.Lock()
	w.inflight[corr] = inflightReq{rk: rk, clientID: clientID}
	w.mu.Unlock()
}

// produceRequest decodes a produce request (body after the size, key,
// version and correlation id) and remembers its bytes per payer until its
// response is written: a project's topic is charged to the project, any
// other topic to the client id the request carries.
func (w *wireConn) produceRequest(rk requestKey, corr int32, body []byte) {
	req := kmsg.NewPtrProduceRequest()
	req.Version = rk.version
	r := kbin.Reader{Src: body}
	requester := payer{}
	if id := r.NullableString(); id != nil {
		requester.clientID = *id
	}
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if err := req.ReadFrom(r.Src); err != nil {
		w.c.cfg.Logger.Debug("lab could not decode a produce request", "broker", w.b.id, "err", err)
		return
	}
	perPayer := map[payer]float64{}
	for _, t := range req.Topics {
		name := t.Topic
		if name == "" {
			name = w.c.topicName(t.TopicID)
		}
		who := requester
		if owner := w.c.owners[name]; owner != nil {
			who = owner.payer()
		}
		for _, p := range t.Partitions {
			perPayer[who] += float64(len(p.Records))
		}
	}
	if req.Acks == 0 {
		// No response will carry the throttle time; Kafka still mutes.
		now := w.c.cfg.Now()
		for p, bytes := range perPayer {
			t, _ := w.c.enforce(w.b, p, config.Produce, bytes, now)
			w.rMute = max(w.rMute, t)
		}
		return
	}
	w.mu.Lock()
	w.inflight[corr] = inflightReq{rk: rk, produce: perPayer}
	w.mu.Unlock()
}

// outChunk is bytes to write, after waiting delay, and then a mute.
type outChunk struct {
	delay, mute time.Duration
	data        []byte
}

func (w *wireConn) Write(p []byte) (int, error) {
	if w.wBad {
		return w.Conn.Write(p)
	}
	for _, ch := range w.scanResponses(p) {
		if ch.delay > 0 && !w.hold(ch.delay) {
			return 0, net.ErrClosed
		}
		if len(ch.data) > 0 {
			if _, err := w.Conn.Write(ch.data); err != nil {
				return 0, err
			}
		}
		if ch.mute > 0 {
			w.hold(ch.mute)
		}
	}
	return len(p), nil
}

// scanResponses follows the response stream. Frames the lab need not
// change pass through; produce and fetch responses are held until whole,
// then enforced and rewritten. It returns what to write, in order.
func (w *wireConn) scanResponses(p []byte) []outChunk {
	var chunks []outChunk
	var out []byte
	for len(p) > 0 {
		if w.wFrame.busy() {
			var passed []byte
			var whole bool
			passed, p, whole = w.wFrame.feed(p)
			out = append(out, passed...)
			if whole {
				frame, throttle, clientThrottles := w.response(w.wReq, w.wFrame.body)
				w.wFrame.body = w.wFrame.body[:0]
				switch {
				case throttle <= 0:
					out = append(out, frame...)
				case clientThrottles:
					chunks = append(chunks, outChunk{data: append(out, frame...), mute: throttle})
					out = nil
				default:
					chunks = append(chunks, outChunk{data: out}, outChunk{delay: throttle, data: frame})
					out = nil
				}
			}
			continue
		}
		k := min(8-len(w.wHdr), len(p))
		w.wHdr = append(w.wHdr, p[:k]...)
		p = p[k:]
		if len(w.wHdr) < 8 {
			break
		}
		hdr := w.wHdr
		w.wHdr = nil
		size := int(int32(binary.BigEndian.Uint32(hdr[0:4])))
		if size < 4 || size > maxFrame {
			w.wBad = true
			out = append(append(out, hdr...), p...)
			break
		}
		corr := int32(binary.BigEndian.Uint32(hdr[4:8]))
		w.mu.Lock()
		req, ok := w.inflight[corr]
		delete(w.inflight, corr)
		w.mu.Unlock()
		if ok && size > 4 {
			w.wReq, w.wFrame.need = req, size-4
			w.wFrame.body = append(w.wFrame.body[:0], hdr...)
		} else {
			out = append(out, hdr...)
			w.wFrame.skip = size - 4
		}
	}
	if len(out) > 0 {
		chunks = append(chunks, outChunk{data: out})
	}
	return chunks
}

// response enforces quotas on one produce or fetch response frame (size,
// correlation id, body) and returns the frame to write, its throttle time,
// and whether the client throttles itself (KIP-219). A frame the lab cannot
// decode is returned unchanged.
func (w *wireConn) response(req inflightReq, frame []byte) ([]byte, time.Duration, bool) {
	var resp kmsg.Response
	var minClientThrottle int16
	if req.produce != nil {
		resp, minClientThrottle = kmsg.NewPtrProduceResponse(), produceClientThrottleVersion
	} else {
		resp, minClientThrottle = kmsg.NewPtrFetchResponse(), fetchClientThrottleVersion
	}
	resp.SetVersion(req.rk.version)
	r := kbin.Reader{Src: frame[8:]}
	if resp.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if err := resp.ReadFrom(r.Src); err != nil {
		w.c.cfg.Logger.Debug("lab could not decode a response", "broker", w.b.id, "request", req.rk.name, "err", err)
		return frame, 0, false
	}
	var throttle time.Duration
	switch resp := resp.(type) {
	case *kmsg.ProduceResponse:
		now := w.c.cfg.Now()
		for p, bytes := range req.produce {
			t, _ := w.c.enforce(w.b, p, config.Produce, bytes, now)
			throttle = max(throttle, t)
		}
		if throttle <= 0 {
			return frame, 0, false
		}
		resp.ThrottleMillis = max(resp.ThrottleMillis, int32(throttle/time.Millisecond))
	case *kmsg.FetchResponse:
		throttle = w.fetched(resp, payer{clientID: req.clientID})
		if throttle <= 0 {
			return frame, 0, false
		}
		resp.ThrottleMillis = max(resp.ThrottleMillis, int32(throttle/time.Millisecond))
	}
	out := append([]byte(nil), frame[:8]...)
	if resp.IsFlexible() {
		out = append(out, 0) // empty header tags, as kfake writes them
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out[:4], uint32(len(out)-4))
	return out, throttle, req.rk.version >= minClientThrottle
}

// fetched accounts one fetch response: the record bytes of each project's
// topics are charged to it, those of any other topic to the requester; a
// payer over its quota has its records removed from the response (Kafka
// answers a throttled fetch empty). The served bytes are the broker's
// bytes out. It returns the throttle time.
func (w *wireConn) fetched(resp *kmsg.FetchResponse, requester payer) time.Duration {
	c, b := w.c, w.b
	now := c.cfg.Now()
	names := make([]string, len(resp.Topics))
	payers := make([]payer, len(resp.Topics))
	perPayer := map[payer]float64{}
	for i, t := range resp.Topics {
		names[i] = t.Topic
		if names[i] == "" {
			names[i] = c.topicName(t.TopicID)
		}
		payers[i] = requester
		if owner := c.owners[names[i]]; owner != nil {
			payers[i] = owner.payer()
		}
		for _, p := range t.Partitions {
			perPayer[payers[i]] += float64(len(p.RecordBatches))
		}
	}
	var throttle time.Duration
	refused := map[payer]bool{}
	for p, bytes := range perPayer {
		// An empty response is charged too: Kafka throttles a client whose
		// windowed rate is still over its quota whatever it fetches.
		t, r := c.enforce(b, p, config.Fetch, bytes, now)
		throttle = max(throttle, t)
		refused[p] = r
	}
	var total float64
	b.mu.Lock()
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if refused[payers[i]] {
			for k := range t.Partitions {
				t.Partitions[k].RecordBatches = nil
			}
		}
		var tb float64
		for _, p := range t.Partitions {
			tb += float64(len(p.RecordBatches))
		}
		if names[i] != "" { // as for produce: an unknown topic id counts in the totals only
			tc := b.topic(names[i], now)
			tc.fetchRequests++
			tc.bytesOut += tb
			tc.out.record(tb, now)
		}
		b.total.bytesOut += tb
		total += tb
	}
	b.total.fetchRequests++
	b.out.record(total, now)
	b.mu.Unlock()
	return throttle
}
