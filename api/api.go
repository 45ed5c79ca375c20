// Package api is Headroom's HTTP quota tuning API under /api/v1, built on
// gin: read models of groups, projects, quotas, the ledger and alerts;
// overrides with optimistic concurrency (ETag / If-Match); alert lifecycle
// actions; and its own OpenAPI 3 document. Every route checks a hashed
// bearer token's role; every mutation is audited; bodies are size-limited
// and strictly decoded; clients are rate-limited; errors are problem+json
// (RFC 9457) with field paths.
//
// It must not import the limiter, collector or detector: what it needs of
// them comes through the small interfaces in this file.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/config"
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
	// OnOverride is called after an override changed, so that the limiter
	// replans with it.
	OnOverride func()
	Now        func() time.Time
	Logger     *slog.Logger
}

// API is the HTTP API.
type API struct {
	opts    Options
	engine  *gin.Engine
	limiter *rateLimiter
	mu      sync.Mutex // guards tokens
	tokens  []token
}

type token struct {
	name, role string
	hash       [32]byte
}

// Principal is the authenticated caller.
type Principal struct {
	Name, Role string
}

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
	a := &API{opts: opts, engine: gin.New()}
	a.limiter = newRateLimiter(opts.Now)
	a.SetTokens(opts.Config().API.Tokens)
	a.engine.Use(a.recover, a.logRequests)
	a.engine.NoRoute(func(c *gin.Context) { problem(c, http.StatusNotFound, "no such route", "") })
	a.engine.HandleMethodNotAllowed = true
	a.engine.NoMethod(func(c *gin.Context) { problem(c, http.StatusMethodNotAllowed, "method not allowed", "") })
	for _, r := range a.routes() {
		handlers := []gin.HandlerFunc{a.rateLimit, a.limitBody}
		if r.role != "" {
			handlers = append(handlers, a.authorize(r.role))
		}
		handlers = append(handlers, r.handler)
		a.engine.Handle(r.method, r.path, handlers...)
	}
	return a, nil
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
		out = append(out, token{name: t.Name, role: t.Role, hash: h})
	}
	a.mu.Lock()
	a.tokens = out
	a.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.engine.ServeHTTP(w, r) }

// HashToken returns the hex SHA-256 the configuration stores for a token.
func HashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

const principalKey = "headroom.principal"

func (a *API) authenticate(r *http.Request) (Principal, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(raw))
	a.mu.Lock()
	defer a.mu.Unlock()
	var found Principal
	match := 0
	for _, t := range a.tokens {
		// Compare against every token, so timing does not tell how many
		// were tried.
		if subtle.ConstantTimeCompare(h[:], t.hash[:]) == 1 {
			found, match = Principal{Name: t.name, Role: t.role}, 1
		}
	}
	return found, match == 1
}

func (a *API) authorize(role string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := a.authenticate(c.Request)
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="headroom"`)
			problem(c, http.StatusUnauthorized, "missing or unknown bearer token", "")
			c.Abort()
			return
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

func (a *API) rateLimit(c *gin.Context) {
	key := "addr:" + c.ClientIP()
	if p, ok := a.authenticate(c.Request); ok {
		key = "token:" + p.Name
	}
	cfg := a.opts.Config().API
	if wait, ok := a.limiter.allow(key, cfg.RateLimit, cfg.RateBurst); !ok {
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
		"principal", principal(c).Name, "duration", a.opts.Now().Sub(start))
}
