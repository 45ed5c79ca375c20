package lab

import (
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// wireListener wraps a broker's listener. It reads request headers (to
// count requests and to know which response answers a fetch) and decodes
// fetch responses as kfake writes them: their record bytes are the broker's
// bytes out, they are charged to the owners of their topics, and the
// response is held for the fetch throttle time.
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
	return &wireConn{Conn: conn, c: l.c, b: l.b, inflight: map[int32]requestKey{}, closed: make(chan struct{})}, nil
}

// maxResponseFrame bounds the response frames the lab follows; kfake never
// writes more (a fetch is capped far lower by clients). Past it the lab stops
// measuring the connection rather than buffer without bound.
const maxResponseFrame = 128 << 20

type wireConn struct {
	net.Conn
	c *Cluster
	b *brokerState

	mu       sync.Mutex
	inflight map[int32]requestKey // correlation id -> fetch request version

	// request stream state (reader goroutine only)
	rHdr  [12]byte
	rN    int
	rSkip int
	rBad  bool

	// response stream state (writer goroutine only)
	wHdr  [8]byte
	wN    int
	wSkip int
	wBody []byte
	wNeed int
	wVer  int16
	wBad  bool

	closeOnce sync.Once
	closed    chan struct{}
}

func (w *wireConn) Close() error {
	w.closeOnce.Do(func() { close(w.closed) })
	return w.Conn.Close()
}

func (w *wireConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 && !w.rBad {
		w.scanRequests(p[:n])
	}
	return n, err
}

func (w *wireConn) scanRequests(p []byte) {
	for len(p) > 0 {
		if w.rSkip > 0 {
			k := min(w.rSkip, len(p))
			w.rSkip -= k
			p = p[k:]
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
		if size < 8 {
			w.rBad = true
			return
		}
		key := int16(binary.BigEndian.Uint16(w.rHdr[4:6]))
		version := int16(binary.BigEndian.Uint16(w.rHdr[6:8]))
		corr := int32(binary.BigEndian.Uint32(w.rHdr[8:12]))
		w.rSkip = size - 8
		rk := requestKey{name: kmsg.NameForKey(key), version: version}
		w.b.mu.Lock()
		w.b.requests[rk]++
		w.b.mu.Unlock()
		if key == int16(kmsg.Fetch) {
			w.mu.Lock()
			w.inflight[corr] = rk
			w.mu.Unlock()
		}
	}
}

func (w *wireConn) Write(p []byte) (int, error) {
	if !w.wBad {
		if d := w.scanResponses(p); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-w.closed:
			case <-w.c.done:
			}
			t.Stop()
		}
	}
	return w.Conn.Write(p)
}

// scanResponses follows the response stream and returns the throttle time
// of the fetch responses completed in p.
func (w *wireConn) scanResponses(p []byte) time.Duration {
	var throttle time.Duration
	for len(p) > 0 {
		if w.wSkip > 0 {
			k := min(w.wSkip, len(p))
			w.wSkip -= k
			p = p[k:]
			continue
		}
		if w.wNeed > 0 {
			k := min(w.wNeed, len(p))
			w.wBody = append(w.wBody, p[:k]...)
			w.wNeed -= k
			p = p[k:]
			if w.wNeed == 0 {
				throttle = max(throttle, w.fetched(w.wVer, w.wBody))
				w.wBody = w.wBody[:0]
			}
			continue
		}
		k := copy(w.wHdr[w.wN:], p)
		w.wN += k
		p = p[k:]
		if w.wN < len(w.wHdr) {
			break
		}
		w.wN = 0
		size := int(int32(binary.BigEndian.Uint32(w.wHdr[0:4])))
		if size < 4 || size > maxResponseFrame {
			w.wBad = true
			break
		}
		corr := int32(binary.BigEndian.Uint32(w.wHdr[4:8]))
		w.mu.Lock()
		rk, isFetch := w.inflight[corr]
		delete(w.inflight, corr)
		w.mu.Unlock()
		if isFetch {
			w.wNeed, w.wVer = size-4, rk.version
			if w.wNeed == 0 {
				continue
			}
		} else {
			w.wSkip = size - 4
		}
	}
	return throttle
}

// fetched accounts one fetch response body and returns its throttle time.
func (w *wireConn) fetched(version int16, body []byte) time.Duration {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	r := kbin.Reader{Src: body}
	if resp.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if err := resp.ReadFrom(r.Src); err != nil {
		w.c.cfg.Logger.Debug("lab could not decode a fetch response", "broker", w.b.id, "err", err)
		return 0
	}
	c, b := w.c, w.b
	now := c.cfg.Now()
	perProject := map[*Project]float64{}
	var total float64
	b.mu.Lock()
	for _, t := range resp.Topics {
		name := t.Topic
		if name == "" {
			name = c.topicName(t.TopicID)
		}
		var tb float64
		for _, p := range t.Partitions {
			tb += float64(len(p.RecordBatches))
		}
		if name != "" { // as for produce: an unknown topic id counts in the totals only
			tc := b.topic(name, now)
			tc.fetchRequests++
			tc.bytesOut += tb
			tc.out.record(tb, now)
		}
		b.total.bytesOut += tb
		total += tb
		if owner := c.owners[name]; owner != nil && tb > 0 {
			perProject[owner] += tb
		}
	}
	b.total.fetchRequests++
	b.out.record(total, now)
	b.mu.Unlock()
	var throttle time.Duration
	for p, bytes := range perProject {
		throttle = max(throttle, c.charge(b, p, dirFetch, bytes, now))
	}
	return throttle
}
