package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
)

// from sends a request from the socket peer remote, with extra headers.
func (e *env) from(t *testing.T, remote, method, path, token string, hdr ...string) resp {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = remote
	return e.serve(r, token, hdr...)
}

// A client that forges X-Forwarded-For or X-Real-IP with a fresh address
// on each request still spends its own bucket: with no trusted proxies the
// key is the socket's peer.
func TestForgedForwardedForDoesNotResetLimit(t *testing.T) {
	for _, header := range []string{"X-Forwarded-For", "X-Real-IP"} {
		t.Run(header, func(t *testing.T) {
			e := newEnv(t, "", func(c *config.Config) { c.API.RateLimit, c.API.RateBurst = 1, 3 })
			for i := range 10 {
				want := http.StatusUnauthorized
				if i >= 3 {
					want = http.StatusTooManyRequests
				}
				forged := fmt.Sprintf("198.51.100.%d", i+1)
				if r := e.from(t, "203.0.113.7:40000", "GET", "/api/v1/groups", "", header, forged); r.code != want {
					t.Fatalf("request %d forging %s: %d, want %d", i, forged, r.code, want)
				}
			}
			// Another peer is not hurt by the first one's abuse.
			if r := e.from(t, "203.0.113.8:40000", "GET", "/api/v1/groups", viewerToken); r.code != 200 {
				t.Fatalf("other peer: %d", r.code)
			}
		})
	}
}

// A client inventing a new bearer token on every request gets no fresh
// bucket either: an unknown token is keyed by the peer, like no token.
func TestInventedTokensDoNotResetLimit(t *testing.T) {
	e := newEnv(t, "", func(c *config.Config) { c.API.RateLimit, c.API.RateBurst = 1, 3 })
	for i := range 10 {
		want := http.StatusUnauthorized
		if i >= 3 {
			want = http.StatusTooManyRequests
		}
		if r := e.from(t, "203.0.113.7:40000", "GET", "/api/v1/groups", fmt.Sprintf("invented-token-%d", i)); r.code != want {
			t.Fatalf("request %d: %d, want %d", i, r.code, want)
		}
	}
	if n := e.api.limiter.len(); n != 1 {
		t.Fatalf("%d buckets for one peer inventing tokens, want 1", n)
	}
}

// Behind a configured proxy the forwarded address is the key: two clients
// behind it get their own buckets, and a peer that is not a trusted proxy
// still cannot choose its key.
func TestTrustedProxyNamesTheClient(t *testing.T) {
	e := newEnv(t, "", func(c *config.Config) {
		c.API.RateLimit, c.API.RateBurst = 1, 2
		c.API.TrustedProxies = []string{"10.0.0.0/8"}
	})
	for i := range 2 {
		for _, client := range []string{"198.51.100.1", "198.51.100.2"} {
			if r := e.from(t, "10.1.2.3:5000", "GET", "/api/v1/health", "", "X-Forwarded-For", client); r.code != 200 {
				t.Fatalf("request %d of %s through the proxy: %d", i, client, r.code)
			}
		}
	}
	if r := e.from(t, "10.1.2.3:5000", "GET", "/api/v1/health", "", "X-Forwarded-For", "198.51.100.1"); r.code != http.StatusTooManyRequests {
		t.Fatalf("third request of one client through the proxy: %d", r.code)
	}
	// An untrusted peer forging the proxy's header is keyed by itself.
	for i := range 3 {
		want := 200
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if r := e.from(t, "203.0.113.9:1", "GET", "/api/v1/health", "", "X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i)); r.code != want {
			t.Fatalf("untrusted peer request %d: %d, want %d", i, r.code, want)
		}
	}
	// A reload that removes the proxy stops trusting it at once.
	e.cfg.API.TrustedProxies = nil
	if r := e.from(t, "10.1.2.3:5000", "GET", "/api/v1/health", "", "X-Forwarded-For", "198.51.100.77"); r.code != 200 {
		t.Fatalf("proxy's own first request: %d", r.code)
	}
	if r := e.from(t, "10.1.2.3:5000", "GET", "/api/v1/health", "", "X-Forwarded-For", "198.51.100.78"); r.code != 200 {
		t.Fatalf("proxy's own second request: %d", r.code)
	}
	if r := e.from(t, "10.1.2.3:5000", "GET", "/api/v1/health", "", "X-Forwarded-For", "198.51.100.79"); r.code != http.StatusTooManyRequests {
		t.Fatalf("untrusted proxy's third request with a new forwarded address: %d", r.code)
	}
}

// The bucket table never holds more than rate_limit_clients, forgetting
// the least recently seen client first; the clients kept keep their state.
func TestRateLimitTableIsBounded(t *testing.T) {
	e := newEnv(t, "", func(c *config.Config) { c.API.RateLimit, c.API.RateBurst, c.API.RateLimitClients = 1, 1, 5 })
	// Exhaust one client's bucket, then keep it recent while others come.
	if r := e.from(t, "203.0.113.1:1", "GET", "/api/v1/health", ""); r.code != 200 {
		t.Fatalf("first request: %d", r.code)
	}
	for i := range 100 {
		e.from(t, fmt.Sprintf("198.51.100.%d:1", i), "GET", "/api/v1/health", "")
		if n := e.api.limiter.len(); n > 5 {
			t.Fatalf("table holds %d clients after %d, want at most 5", n, i+1)
		}
		if i%3 == 0 {
			if r := e.from(t, "203.0.113.1:1", "GET", "/api/v1/health", ""); r.code != http.StatusTooManyRequests {
				t.Fatalf("the recent, exhausted client was forgotten after %d others: %d", i+1, r.code)
			}
		}
	}
	// One IPv6 host's /64 is one client.
	for i := range 3 {
		want := 200
		if i > 0 {
			want = http.StatusTooManyRequests
		}
		if r := e.from(t, fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1), "GET", "/api/v1/health", ""); r.code != want {
			t.Fatalf("IPv6 request %d: %d, want %d", i, r.code, want)
		}
	}
}

// Only a token marked proxy may name the user it acts for; the audit and
// the override record that user next to the token's name.
func TestProxyUserHeader(t *testing.T) {
	e := newEnv(t, "", nil)
	put := func(token string, hdr ...string) resp {
		return e.do(t, "PUT", "/api/v1/overrides/project/checkout", token, `{"produce": {"weight": 2}, "reason": "t"}`, hdr...)
	}
	if r := put(operatorToken, UserHeader, "mallory"); r.code != http.StatusForbidden || !strings.Contains(r.body, "proxy: true") {
		t.Fatalf("a non-proxy token naming a user: %d %s", r.code, r.body)
	}
	if r := e.do(t, "GET", "/api/v1/groups", viewerToken, "", UserHeader, "mallory"); r.code != http.StatusForbidden {
		t.Fatalf("a non-proxy viewer token naming a user: %d", r.code)
	}
	for _, bad := range []string{"", "a\x01b", strings.Repeat("x", 257)} {
		if r := put(proxyToken, UserHeader, bad); r.code != http.StatusBadRequest {
			t.Fatalf("proxy token with user %q: %d", bad, r.code)
		}
	}
	if r := e.from(t, "192.0.2.1:1", "GET", "/api/v1/groups", proxyToken, UserHeader, "a", UserHeader, "b"); r.code != http.StatusBadRequest {
		t.Fatalf("two user headers: %d", r.code)
	}
	r := put(proxyToken, UserHeader, "alice")
	if r.code != 200 || !strings.Contains(r.body, `"grafana (user alice)"`) {
		t.Fatalf("proxy token acting for alice: %d %s", r.code, r.body)
	}
	id := e.openIncident(t)
	if r := e.do(t, "POST", fmt.Sprintf("/api/v1/alerts/%d/acknowledge", id), proxyToken, "", UserHeader, "bob"); r.code != 200 {
		t.Fatalf("acknowledge for bob: %d %s", r.code, r.body)
	}
	recs, err := e.db.Audit(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, rec := range recs {
		actors = append(actors, rec.Actor)
	}
	for _, want := range []string{"grafana (user alice)", "grafana (user bob)"} {
		found := false
		for _, a := range actors {
			found = found || a == want
		}
		if !found {
			t.Errorf("audit lacks %q: %v", want, actors)
		}
	}
	// Without the header the proxy token is itself.
	if r := e.do(t, "GET", "/api/v1/overrides/project/checkout", proxyToken, ""); r.code != 200 {
		t.Fatalf("proxy token alone: %d", r.code)
	}
}

// A token past its expiry is refused like an unknown one, and one about
// to expire still works.
func TestTokenExpiry(t *testing.T) {
	soon := time.Date(2026, 11, 23, 3, 0, 1, 0, time.UTC)
	e := newEnv(t, "", func(c *config.Config) {
		c.API.Tokens = append(c.API.Tokens, config.APIToken{Name: "soon", Role: config.RoleViewer, SHA256: HashToken("soon-token"), Expires: &soon})
	})
	if r := e.do(t, "GET", "/api/v1/groups", "soon-token", ""); r.code != 200 {
		t.Fatalf("before expiry: %d", r.code)
	}
	e.now = soon
	if r := e.do(t, "GET", "/api/v1/groups", "soon-token", ""); r.code != http.StatusUnauthorized {
		t.Fatalf("at expiry: %d", r.code)
	}
}
