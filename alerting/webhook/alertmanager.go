package webhook

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// AlertmanagerRoute is the Alertmanager side of the receiver: a
// configuration whose one route sends every alert to a Headroom webhook.
// The demo writes it for its Alertmanager, and tests start real ones on it.
type AlertmanagerRoute struct {
	// URL is the receiver's full URL (base and webhook path).
	URL string
	// BearerToken or BearerTokenFile, when set, is sent as the bearer
	// credentials (set at most one); with neither, no authorization.
	BearerToken, BearerTokenFile string
	// GroupBy lists the labels Alertmanager groups alerts by.
	GroupBy []string
	// GroupWait and GroupInterval are written as given (zero is 0s);
	// RepeatInterval only when set (Alertmanager's default otherwise).
	GroupWait, GroupInterval, RepeatInterval time.Duration
	// NoResolved stops Alertmanager sending resolved notifications.
	NoResolved bool
}

// Config is the Alertmanager configuration file's text.
func (r AlertmanagerRoute) Config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "route:\n  receiver: headroom\n  group_by: [%s]\n  group_wait: %s\n  group_interval: %s\n",
		strings.Join(r.GroupBy, ", "), model.Duration(r.GroupWait), model.Duration(r.GroupInterval))
	if r.RepeatInterval > 0 {
		fmt.Fprintf(&b, "  repeat_interval: %s\n", model.Duration(r.RepeatInterval))
	}
	fmt.Fprintf(&b, "receivers:\n  - name: headroom\n    webhook_configs:\n      - url: %s\n        send_resolved: %t\n", r.URL, !r.NoResolved)
	switch {
	case r.BearerToken != "":
		fmt.Fprintf(&b, "        http_config:\n          authorization: {type: Bearer, credentials: %s}\n", r.BearerToken)
	case r.BearerTokenFile != "":
		fmt.Fprintf(&b, "        http_config:\n          authorization: {type: Bearer, credentials_file: %s}\n", r.BearerTokenFile)
	}
	return b.String()
}
