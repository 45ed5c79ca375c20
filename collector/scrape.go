package collector

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// acceptHeader prefers OpenMetrics 1.0 and accepts the text format.
const acceptHeader = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"

// ErrBodyTooLarge is returned when a page exceeds the body size limit.
var ErrBodyTooLarge = errors.New("body exceeds the size limit")

// Fetcher fetches one metrics page over HTTP.
type Fetcher struct {
	Client *http.Client
	// Timeout bounds each fetch, from request to last byte.
	Timeout time.Duration
	// BodySizeLimit caps the uncompressed body in bytes.
	BodySizeLimit int64
}

// Page is one fetched page.
type Page struct {
	Body        []byte
	ContentType string
}

// Fetch GETs url with gzip and the body size limit. Errors name the URL.
func (f *Fetcher) Fetch(ctx context.Context, url string) (Page, error) {
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Page{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", acceptHeader)
	// Set explicitly so the transport leaves decompression to us and the
	// size limit applies to the uncompressed body.
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", "headroom-collector")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", fmt.Sprintf("%g", f.Timeout.Seconds()))
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Page{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return Page{}, fmt.Errorf("scrape %s: server returned HTTP status %s", url, resp.Status)
	}
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			return Page{}, fmt.Errorf("scrape %s: gzip: %w", url, err)
		}
		defer gz.Close()
		body = gz
	}
	b, err := io.ReadAll(io.LimitReader(body, f.BodySizeLimit+1))
	if err != nil {
		return Page{}, fmt.Errorf("scrape %s: read body: %w", url, err)
	}
	if int64(len(b)) > f.BodySizeLimit {
		return Page{}, fmt.Errorf("scrape %s: %w (%d bytes)", url, ErrBodyTooLarge, f.BodySizeLimit)
	}
	return Page{Body: b, ContentType: resp.Header.Get("Content-Type")}, nil
}

// MapPage parses a page and maps it with profile. It never panics on bad
// input: every problem is an error.
//
// Prometheus's parser reads the whole page, but only the samples of the
// families the profile reads are built. samples counts every sample of the
// page.
func MapPage(profile Profile, page Page) (pts []Point, samples, dropped int, err error) {
	fams, samples, err := parseFamilies(page.Body, page.ContentType, wantedSet(profile))
	if err != nil {
		return nil, 0, 0, err
	}
	pts, dropped = profile.Map(nil, fams)
	if err := checkDuplicates(pts); err != nil {
		return nil, 0, 0, fmt.Errorf("parse exposition: %w", err)
	}
	return pts, samples, dropped, nil
}

// checkDuplicates rejects a page that gives one series twice (the
// exposition formats forbid it): its two values, possibly out of order,
// would be rated against each other.
func checkDuplicates(pts []Point) error {
	seen := make(map[PointKey]struct{}, len(pts))
	for _, p := range pts {
		if _, dup := seen[p.PointKey]; dup {
			return fmt.Errorf("duplicate series on the page: %s %s %q", p.Kind, p.dir(), p.Name)
		}
		seen[p.PointKey] = struct{}{}
	}
	return nil
}

var wantedSets sync.Map // profile name → map[string]bool

func wantedSet(p Profile) map[string]bool {
	if w, ok := wantedSets.Load(p.Name()); ok {
		return w.(map[string]bool)
	}
	w := map[string]bool{}
	for _, f := range p.Families() {
		w[f] = true
	}
	wantedSets.Store(p.Name(), w)
	return w
}
