package collector

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/headroomhq/headroom/config"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// bumpPage adds inc[name] to the value of every sample of metric name.
func bumpPage(t testing.TB, page []byte, inc map[string]float64) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, line := range bytes.Split(page, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			out.Write(line)
			out.WriteByte('\n')
			continue
		}
		name := line
		if i := bytes.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		d, ok := inc[string(name)]
		if !ok {
			out.Write(line)
			out.WriteByte('\n')
			continue
		}
		head := sampleHead(line)
		vi := bytes.LastIndexByte(head, ' ')
		v, err := strconv.ParseFloat(string(head[vi+1:]), 64)
		if err != nil {
			t.Fatalf("bump %q: %v", line, err)
		}
		out.Write(head[:vi+1])
		out.WriteString(strconv.FormatFloat(v+d, 'g', -1, 64))
		out.Write(line[len(head):])
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// pageServer serves whatever page is current; tests swap it between rounds.
type pageServer struct {
	mu          sync.Mutex
	page        []byte
	contentType string
	*httptest.Server
}

func newPageServer(t testing.TB, page []byte) *pageServer {
	s := &pageServer{page: page, contentType: "text/plain; version=0.0.4"}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		p, ct := s.page, s.contentType
		s.mu.Unlock()
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(p)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *pageServer) set(page []byte) {
	s.mu.Lock()
	s.page = page
	s.mu.Unlock()
}

// fakeClock is an injected clock that tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testProjects() []config.ProjectConfig {
	return []config.ProjectConfig{
		{Name: "proj-a", Entity: config.Entity{User: "alice", ClientID: "proj-a"}, Topics: config.TopicsConfig{Prefixes: []string{"orders"}}},
		{Name: "proj-b", Entity: config.Entity{ClientID: "proj-b"}, Topics: config.TopicsConfig{Regexes: []string{"pay.*"}}},
		{Name: "proj-c", Entity: config.Entity{User: "bob"}, Topics: config.TopicsConfig{Prefixes: []string{"audit-"}}},
	}
}

func testCollectorConfig() config.CollectorConfig {
	c := config.DefaultCollectorConfig()
	c.ScrapeTimeout = model.Duration(5 * time.Second)
	return c
}

func newTestCollector(t testing.TB, clk *fakeClock) *Collector {
	t.Helper()
	c, err := New(Options{Config: testCollectorConfig(), Projects: testProjects(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func near(a, b float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

func wantValue(t *testing.T, what string, got Value, want float64, state State) {
	t.Helper()
	if got.State != state || !near(got.Value, want) {
		t.Errorf("%s = %v (%s), want %v (%s)", what, got.Value, got.State, want, state)
	}
}

// sampleHead returns a sample line up to and including its value: the
// name, the label set (quote-aware) and the first field after it.
func sampleHead(line []byte) []byte {
	i := 0
	inQuote, depth := false, 0
	for ; i < len(line); i++ {
		c := line[i]
		if inQuote {
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
			continue
		}
		switch c {
		case '"':
			inQuote = true
		case '{':
			depth++
		case '}':
			depth--
		}
		if depth == 0 && c == ' ' {
			break
		}
	}
	for i < len(line) && line[i] == ' ' {
		i++
	}
	for i < len(line) && line[i] != ' ' {
		i++
	}
	return line[:i]
}
