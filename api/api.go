// Package api is Headroom's HTTP quota tuning API under /api/v1, built on
// gin: read models of groups, projects, quotas, the ledger and alerts;
// overrides with optimistic concurrency (ETag / If-Match); alert lifecycle
// actions; and its own OpenAPI 3 document. Every route checks a hashed
// bearer token's role (and its expiry); every mutation is audited, with the
// user a proxy token acts for; bodies are size-limited and strictly
// decoded; clients are rate-limited, by token or else by the socket's peer
// (forwarding headers count only from configured trusted proxies); errors
// are problem+json (RFC 9457) with field paths.
//
// Overrides are read and written through the limiter's override service
// (limiter/overrides), the same one the alert playbooks use; the answers
// are the wire types of api/wire.
//
// It must not import the limiter, collector or detector: what it needs of
// them comes through the small interfaces in this file and the override
// service.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/store"
)

// AlertActions are the lifecycle actions of the alert loop;
// *alerting.Engine implements them.
type AlertActions interface {
	Acknowledge(ctx context.Context, id int64, actor string) error
	Approve(ctx context.Context, id int64, actor string) error
	Reject(ctx context.Context, id int64, actor, reason string) error
}

// EntityQuota is what the cluster holds for one quota entity, bytes/s.
type EntityQuota struct {
	Produce *float64 `json:"produce,omitempty"`
	Fetch   *float64 `json:"fetch,omitempty"`
}

// ClusterQuotas reads the quotas a cluster holds, keyed by entity string
// ("user=a,client-id=b").
type ClusterQuotas interface {
	ClusterQuotas(ctx context.Context, cluster string) (map[string]EntityQuota, error)
}

// Options configure the API.
type Options struct {
	// Config returns the configuration in force.
	Config func() *config.Config
	Store  *store.DB
	// Quotas and Alerts are optional; their routes answer 503 without them.
	Quotas ClusterQuotas
	Alerts AlertActions
	// Overrides is the override service the override routes write
	// through. Without it, New builds one over Store that calls OnOverride
	// after a change.
	Overrides *overrides.Service
	// OnOverride is called after an override changed, so that the limiter
	// replans with it; used only when Overrides is nil.
	OnOverride func()
	Now        func() time.Time
	Logger     *slog.Logger
}

// API is the HTTP API.
type API struct {
	opts      Options
	overrides *overrides.Service
	limiter   *rateLimiter
	mu        sync.Mutex // guards tokens and the engine's rebuild
	tokens    []token
	// served is the gin engine in force with the trusted proxies it was
	// built for; a reload that changes them builds a new engine.
	served atomic.Pointer[served]
}

type served struct {
	engine  *gin.Engine
	proxies []string
}

type token struct {
	name, role string
	proxy      bool
	expires    *time.Time
	hash       [32]byte
}

// Principal is the authenticated caller.
type Principal struct {
	Name, Role string
	// User is the login of the person a proxy token acts for (the
	// X-Headroom-User header), empty otherwise.
	User string
}

// Actor is how the audit trail names the caller: the token's name, and the
// person it acted for when a proxy token named one.
func (p Principal) Actor() string {
	if p.User == "" {
		return p.Name
	}
	return p.Name + " (user " + p.User + ")"
}

// UserHeader carries the login of the person a proxy token acts for.
const UserHeader = "X-Headroom-User"

var roleRank = map[string]int{config.RoleViewer: 1, config.RoleOperator: 2, config.RoleAdmin: 3}

// New builds the API.
func New(opts Options) (*API, error) {
	if opts.Config == nil || opts.Store == nil {
		return nil, errors.New("api: config and store are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	gin.SetMode(gin.ReleaseMode)
	a := &API{opts: opts, overrides: opts.Overrides}
	if a.overrides == nil {
		a.overrides = &overrides.Service{Store: opts.Store, Config: opts.Config, Now: opts.Now}
		if on := opts.OnOverride; on != nil {
			a.overrides.Replan = func(context.Context, string) { on() }
		}
	}
	a.limiter = newRateLimiter(opts.Now)
	a.SetTokens(opts.Config().API.Tokens)
	proxies := opts.Config().API.TrustedProxies
	e, err := a.build(proxies)
	if err != nil {
		return nil, err
	}
	a.served.Store(&served{engine: e, proxies: proxies})
	return a, nil
}

// build returns a gin engine serving every route, trusting the given
// proxies' forwarding headers and no one else's.
func (a *API) build(proxies []string) (*gin.Engine, error) {
	e := gin.New()
	// gin trusts every proxy unless told otherwise; nil trusts none, so
	// that X-Forwarded-For cannot pick the rate-limit bucket.
	var trusted []string
	if len(proxies) > 0 {
		trusted = proxies
	}
	if err := e.SetTrustedProxies(trusted); err != nil {
		return nil, fmt.Errorf("api.trusted_proxies: %w", err)
	}
	e.Use(a.recover, a.logRequests)
	e.NoRoute(func(c *gin.Context) { problem(c, http.StatusNotFound, "no such route", "") })
	e.HandleMethodNotAllowed = true
	e.NoMethod(func(c *gin.Context) { problem(c, http.StatusMethodNotAllowed, "method not allowed", "") })
	for _, r := range a.routes() {
		handlers := []gin.HandlerFunc{a.rateLimit, a.limitBody}
		if r.role != "" {
			handlers = append(handlers, a.authorize(r.role))
		}
		handlers = append(handlers, r.handler)
		e.Handle(r.method, r.path, handlers...)
	}
	return e, nil
}

// engine returns the gin engine for the trusted proxies in force,
// rebuilding it when a reload changed them.
func (a *API) engine() *gin.Engine {
	cur := a.served.Load()
	want := a.opts.Config().API.TrustedProxies
	if slices.Equal(cur.proxies, want) {
		return cur.engine
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur = a.served.Load(); slices.Equal(cur.proxies, want) {
		return cur.engine
	}
	e, err := a.build(want)
	if err != nil { // validated before a reload is accepted: cannot happen
		a.opts.Logger.Error("keeping the previous trusted proxies", "err", err)
		return cur.engine
	}
	a.served.Store(&served{engine: e, proxies: want})
	return e
}

// SetTokens replaces the accepted tokens (on reload).
func (a *API) SetTokens(ts []config.APIToken) {
	var out []token
	for _, t := range ts {
		b, err := hex.DecodeString(t.SHA256)
		if err != nil || len(b) != 32 {
			continue // config validation rejects these
		}
		var h [32]byte
		copy(h[:], b)
		out = append(out, token{name: t.Name, role: t.Role, proxy: t.Proxy, expires: t.Expires, hash: h})
	}
	a.mu.Lock()
	a.tokens = out
	a.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.engine().ServeHTTP(w, r) }

// HashToken returns the hex SHA-256 the configuration stores for a token.
func HashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

const principalKey = "headroom.principal"

// authenticate finds the bearer token's holder. An expired token is as
// good as an unknown one.
func (a *API) authenticate(r *http.Request) (Principal, bool, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return Principal{}, false, false
	}
	h := sha256.Sum256([]byte(raw))
	now := a.opts.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	var found token
	match := 0
	for _, t := range a.tokens {
		// Compare against every token, so timing does not tell how many
		// were tried.
		if subtle.ConstantTimeCompare(h[:], t.hash[:]) == 1 {
			found, match = t, 1
		}
	}
	if match == 0 || (found.expires != nil && !now.Before(*found.expires)) {
		return Principal{}, false, false
	}
	return Principal{Name: found.name, Role: found.role}, found.proxy, true
}

func (a *API) authorize(role string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, proxy, ok := a.authenticate(c.Request)
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="headroom"`)
			problem(c, http.StatusUnauthorized, "missing, unknown or expired bearer token", "")
			c.Abort()
			return
		}
		if vals, sent := c.Request.Header[http.CanonicalHeaderKey(UserHeader)]; sent {
			user, err := onBehalfOf(vals)
			switch {
			case !proxy:
				problem(c, http.StatusForbidden, "forbidden", "token "+p.Name+" may not act for a user: only tokens marked proxy: true may send "+UserHeader)
				c.Abort()
				return
			case err != nil:
				problem(c, http.StatusBadRequest, "bad "+UserHeader, err.Error())
				c.Abort()
				return
			}
			p.User = user
		}
		if roleRank[p.Role] < roleRank[role] {
			problem(c, http.StatusForbidden, "forbidden", "this route needs the "+role+" role; token "+p.Name+" has "+p.Role)
			c.Abort()
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// onBehalfOf checks the user header: one value, printable, short.
func onBehalfOf(vals []string) (string, error) {
	if len(vals) != 1 {
		return "", errors.New("send the header once")
	}
	u := vals[0]
	if u == "" || len(u) > 256 {
		return "", errors.New("the login must be 1 to 256 bytes")
	}
	if !utf8.ValidString(u) || strings.ContainsFunc(u, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", errors.New("the login must be printable UTF-8")
	}
	return u, nil
}

func principal(c *gin.Context) Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(Principal)
	return pr
}

func (a *API) limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, a.opts.Config().API.MaxBodyBytes)
	}
	c.Next()
}

// rateLimit keys an authenticated caller by its token and anyone else by
// the client address, which is the socket's peer unless a trusted proxy
// forwarded the request.
func (a *API) rateLimit(c *gin.Context) {
	key := peerKey(c.ClientIP())
	if p, _, ok := a.authenticate(c.Request); ok {
		key = "token:" + p.Name
	}
	cfg := a.opts.Config().API
	if wait, ok := a.limiter.allow(key, cfg.RateLimit, cfg.RateBurst, cfg.RateLimitClients); !ok {
		c.Header("Retry-After", retryAfter(wait))
		problem(c, http.StatusTooManyRequests, "rate limited", "too many requests; retry after "+retryAfter(wait)+"s")
		c.Abort()
		return
	}
	c.Next()
}

func (a *API) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			a.opts.Logger.Error("api handler panicked", "path", c.FullPath(), "panic", r)
			problem(c, http.StatusInternalServerError, "internal error", "")
			c.Abort()
		}
	}()
	c.Next()
}

// logRequests logs method, route and status; never headers or bodies, which
// carry tokens.
func (a *API) logRequests(c *gin.Context) {
	start := a.opts.Now()
	c.Next()
	a.opts.Logger.Debug("api request", "method", c.Request.Method, "route", c.FullPath(), "status", c.Writer.Status(),
		"principal", principal(c).Actor(), "duration", a.opts.Now().Sub(start))
}
