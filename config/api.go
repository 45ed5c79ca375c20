package config

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// API roles, from least to most allowed.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// APIConfig configures the HTTP quota tuning API under /api/v1.
type APIConfig struct {
	// MaxBodyBytes caps a request body. Default 1MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Tokens are the bearer tokens the API accepts. Only their SHA-256 is
	// stored: `printf %s "$TOKEN" | sha256sum`. With no tokens every
	// request but /api/v1/health is refused.
	Tokens []APIToken `yaml:"tokens"`
	// RateLimit is the sustained requests per second allowed per token
	// (per remote address before authentication). Default 1500: one
	// automation client may run at 1,000 requests/s with room to spare.
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is how many requests may come at once. Default 3000.
	RateBurst int `yaml:"rate_burst"`
	// RateLimitClients bounds the table of per-client buckets; the least
	// recently seen client is forgotten first. Default 10000.
	RateLimitClients int `yaml:"rate_limit_clients"`
	// TrustedProxies lists the addresses or CIDR ranges of the reverse
	// proxies whose X-Forwarded-For and X-Real-IP headers name the client.
	// Default none: the client is the socket's peer, and those headers are
	// ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// APIToken is one bearer token.
type APIToken struct {
	// Name identifies the holder in the audit trail.
	Name string `yaml:"name"`
	// Role is viewer, operator or admin.
	Role string `yaml:"role"`
	// SHA256 is the hex SHA-256 of the token.
	SHA256 string `yaml:"sha256"`
	// Proxy marks a token held by a front end (the Grafana datasource) that
	// acts for its own users: only such a token may name the user in the
	// X-Headroom-User header, which the audit then records next to the
	// token's name.
	Proxy bool `yaml:"proxy"`
	// Expires, when set (RFC 3339), is when the token stops being accepted.
	Expires *time.Time `yaml:"expires"`
}

// DefaultAPIConfig returns the API defaults.
func DefaultAPIConfig() APIConfig {
	return APIConfig{MaxBodyBytes: 1 << 20, RateLimit: 1500, RateBurst: 3000, RateLimitClients: 10000}
}

// Validate reports the section's problems.
func (c *APIConfig) Validate() []error {
	var errs []error
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fieldErr("max_body_bytes", "must be at least 1024"))
	}
	if !(c.RateLimit > 0) || math.IsInf(c.RateLimit, 0) {
		errs = append(errs, fieldErr("rate_limit", "must be a finite number above zero, got %v", c.RateLimit))
	}
	if c.RateBurst < 1 {
		errs = append(errs, fieldErr("rate_burst", "must be at least 1"))
	}
	if c.RateLimitClients < 1 {
		errs = append(errs, fieldErr("rate_limit_clients", "must be at least 1"))
	}
	for i, p := range c.TrustedProxies {
		if _, err := ParseTrustedProxy(p); err != nil {
			errs = append(errs, fieldErr(indexPath("trusted_proxies", i), "%v", err))
		}
	}
	names, hashes := map[string]bool{}, map[string]bool{}
	for i, t := range c.Tokens {
		p := indexPath("tokens", i)
		if fe, bad := uniqueName(p+".name", t.Name, names, "duplicate token name %q"); bad {
			errs = append(errs, fe)
		}
		switch t.Role {
		case RoleViewer, RoleOperator, RoleAdmin:
		default:
			errs = append(errs, fieldErr(p+".role", "must be viewer, operator or admin; got %q", t.Role))
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
			errs = append(errs, fieldErr(p+".sha256", "must be 64 hex digits (the SHA-256 of the token), not the token itself"))
		} else if hashes[t.SHA256] {
			errs = append(errs, fieldErr(p+".sha256", "the same token is listed twice"))
		}
		hashes[t.SHA256] = true
	}
	return errs
}

func indexPath(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// ParseTrustedProxy parses one trusted_proxies entry: an IP address or a
// CIDR range.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR range: %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR range: %q", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
