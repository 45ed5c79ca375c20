package config

import (
	"math"
	"time"

	"github.com/prometheus/common/model"
)

// AlertingConfig configures the alert loop through Alertmanager.
type AlertingConfig struct {
	// Alertmanagers are the Alertmanagers alerts are sent to (every member
	// of an HA pair): base URLs, each with an optional http_config. Empty
	// disables sending.
	Alertmanagers []HTTPTarget `yaml:"alertmanagers"`
	// ResendInterval is how often a firing alert is re-sent with its end
	// pushed forward. Default 1m.
	ResendInterval model.Duration `yaml:"resend_interval"`
	// QueueCapacity bounds the alerts queued per Alertmanager while it is
	// unreachable. Default 10000.
	QueueCapacity int `yaml:"queue_capacity"`
	// Webhook configures the receiver Alertmanager calls back.
	Webhook WebhookConfig `yaml:"webhook"`
	// KillSwitch stops every automatic action; alerts are still recorded
	// and sent. Default false.
	KillSwitch bool `yaml:"kill_switch"`
	// Playbooks say how each alert is handled. An alert without a playbook
	// is recorded and left to people.
	Playbooks []PlaybookConfig `yaml:"playbooks"`
	// Callbacks get a JSON POST on every lifecycle change: URLs, each with
	// an optional http_config and secret_file (the HMAC-SHA256 signing key).
	Callbacks []CallbackConfig `yaml:"callbacks"`
	// Rules sets the thresholds and durations of Headroom's own alert
	// rules.
	Rules AlertRulesConfig `yaml:"rules"`
	// RunbookURL is the runbook document alerts link to; the lower-cased
	// alert name is its anchor. Default the project's docs/runbooks.md.
	RunbookURL string `yaml:"runbook_url"`
	// DashboardURL is the Grafana base URL that alerts' dashboard
	// annotations start with (e.g. https://grafana.example). Empty leaves
	// the dashboard links relative.
	DashboardURL string `yaml:"dashboard_url,omitempty"`
}

// WebhookConfig configures the Alertmanager webhook receiver.
type WebhookConfig struct {
	// BearerTokenFile holds the token Alertmanager must send. Set it or
	// BasicAuth; with neither, the webhook refuses every request unless
	// Insecure is set.
	BearerTokenFile string `yaml:"bearer_token_file,omitempty"`
	// BasicAuth is the alternative to a bearer token.
	BasicAuth *BasicAuthConfig `yaml:"basic_auth,omitempty"`
	// Insecure accepts unauthenticated requests; for loopback labs only.
	Insecure bool `yaml:"insecure,omitempty"`
	// MaxBodyBytes caps a notification's size. Default 1MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// BasicAuthConfig is a username and a password file.
type BasicAuthConfig struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// Playbook actions.
const (
	ActionReallocateNow = "reallocate_now"
	ActionRaiseMargin   = "raise_margin"
	ActionCapProject    = "cap_project"
	ActionNotifyOnly    = "notify_only"
)

// Playbook modes.
const (
	ModeAuto    = "auto"
	ModeApprove = "approve"
	ModeOff     = "off"
)

// PlaybookConfig handles one alert name.
type PlaybookConfig struct {
	// Alert is the alertname handled. Required, unique.
	Alert string `yaml:"alert"`
	// Action is reallocate_now, raise_margin, cap_project or notify_only.
	Action string `yaml:"action"`
	// Mode is auto (act at once), approve (act once approved through the
	// API) or off. Default approve.
	Mode string `yaml:"mode"`
	// Cooldown is the least time between two actions of this playbook on
	// the same resource group. Default 10m.
	Cooldown model.Duration `yaml:"cooldown"`
	// MaxTargets is the blast-radius limit: the most projects or brokers
	// one action may touch. Default 1.
	MaxTargets int `yaml:"max_targets"`
	// VerifyWindow is how long after acting Headroom waits before checking
	// that the condition cleared. Default 45s: the action, one round to
	// apply it and Kafka's 11 s quota window, with a round to spare.
	VerifyWindow model.Duration `yaml:"verify_window"`
	// Duration is how long a temporary override (raised margin, cap) lasts.
	// Default 30m.
	Duration model.Duration `yaml:"duration"`
	// Margin is what raise_margin raises the group's margin to, in (0, 1].
	// Default 0.95.
	Margin float64 `yaml:"margin,omitempty"`
	// Cap is the temporary ceiling cap_project sets. Required for it.
	Cap Rate `yaml:"cap,omitempty"`
}

// DefaultAlertingConfig returns the alerting defaults.
func DefaultAlertingConfig() AlertingConfig {
	return AlertingConfig{
		ResendInterval: model.Duration(time.Minute),
		QueueCapacity:  10000,
		Webhook:        WebhookConfig{MaxBodyBytes: 1 << 20},
		Rules:          DefaultAlertRulesConfig(),
		RunbookURL:     DefaultRunbookURL,
	}
}

// Defaults for playbook fields.
const (
	DefaultPlaybookCooldown     = model.Duration(10 * time.Minute)
	DefaultPlaybookVerifyWindow = model.Duration(45 * time.Second)
	DefaultPlaybookDuration     = model.Duration(30 * time.Minute)
	DefaultPlaybookMargin       = 0.95
)

func (c *AlertingConfig) applyDefaults() {
	for i := range c.Playbooks {
		p := &c.Playbooks[i]
		if p.Mode == "" {
			p.Mode = ModeApprove
		}
		if p.Cooldown == 0 {
			p.Cooldown = DefaultPlaybookCooldown
		}
		if p.MaxTargets == 0 {
			p.MaxTargets = 1
		}
		if p.VerifyWindow == 0 {
			p.VerifyWindow = DefaultPlaybookVerifyWindow
		}
		if p.Duration == 0 {
			p.Duration = DefaultPlaybookDuration
		}
		if p.Action == ActionRaiseMargin && p.Margin == 0 {
			p.Margin = DefaultPlaybookMargin
		}
	}
}

// Validate reports the section's problems.
func (c *AlertingConfig) Validate() []error {
	var errs []error
	errs = append(errs, c.validateAlertmanagers()...)
	if c.ResendInterval < model.Duration(time.Second) {
		errs = append(errs, fieldErr("resend_interval", "must be at least 1s"))
	}
	if c.QueueCapacity < 1 {
		errs = append(errs, fieldErr("queue_capacity", "must be at least 1"))
	}
	errs = append(errs, c.Webhook.validate()...)
	errs = append(errs, c.validatePlaybooks()...)
	for i, cb := range c.Callbacks {
		if err := checkTargetURL(cb.URL); err != nil {
			errs = append(errs, fieldErr(indexPath("callbacks", i), "%v", err))
		}
		errs = append(errs, checkHTTPClientConfig(indexPath("callbacks", i)+".http_config", cb.HTTPConfig)...)
	}
	for _, e := range c.Rules.Validate() {
		var fe FieldError
		if asFieldError(e, &fe) {
			fe.Path = joinPath("rules", fe.Path)
			e = fe
		}
		errs = append(errs, e)
	}
	if err := checkHTTPURL(c.RunbookURL); err != nil {
		errs = append(errs, fieldErr("runbook_url", "%v", err))
	}
	if c.DashboardURL != "" {
		if err := checkHTTPURL(c.DashboardURL); err != nil {
			errs = append(errs, fieldErr("dashboard_url", "%v", err))
		}
	}
	return errs
}

func (c *AlertingConfig) validateAlertmanagers() []error {
	var errs []error
	seen := map[string]bool{}
	for i, am := range c.Alertmanagers {
		u := am.URL
		if err := checkTargetURL(u); err != nil {
			errs = append(errs, fieldErr(indexPath("alertmanagers", i), "%v", err))
		} else if seen[u] {
			errs = append(errs, fieldErr(indexPath("alertmanagers", i), "duplicate Alertmanager %q", u))
		}
		seen[u] = true
		errs = append(errs, checkHTTPClientConfig(indexPath("alertmanagers", i)+".http_config", am.HTTPConfig)...)
	}
	return errs
}

// validate reports the webhook receiver's problems, under "webhook".
func (w WebhookConfig) validate() []error {
	var errs []error
	if w.BearerTokenFile != "" && w.BasicAuth != nil {
		errs = append(errs, fieldErr("webhook", "set bearer_token_file or basic_auth, not both"))
	}
	if b := w.BasicAuth; b != nil && (b.Username == "" || b.PasswordFile == "") {
		errs = append(errs, fieldErr("webhook.basic_auth", "username and password_file are required"))
	}
	if w.MaxBodyBytes < 1024 {
		errs = append(errs, fieldErr("webhook.max_body_bytes", "must be at least 1024"))
	}
	return errs
}

// validatePlaybooks reports the playbooks' problems; an alert has at most
// one playbook.
func (c *AlertingConfig) validatePlaybooks() []error {
	var errs []error
	alerts := map[string]bool{}
	for i, p := range c.Playbooks {
		pp := indexPath("playbooks", i)
		if fe, bad := uniqueName(pp+".alert", p.Alert, alerts, "duplicate playbook for %q"); bad {
			errs = append(errs, fe)
		}
		errs = append(errs, p.validate(pp)...)
	}
	return errs
}

// validate reports one playbook's problems other than its alert's, at
// path pp.
func (p PlaybookConfig) validate(pp string) []error {
	var errs []error
	switch p.Action {
	case ActionReallocateNow, ActionRaiseMargin, ActionCapProject, ActionNotifyOnly:
	default:
		errs = append(errs, fieldErr(pp+".action", "must be one of %s, %s, %s, %s; got %q",
			ActionReallocateNow, ActionRaiseMargin, ActionCapProject, ActionNotifyOnly, p.Action))
	}
	switch p.Mode {
	case ModeAuto, ModeApprove, ModeOff:
	default:
		errs = append(errs, fieldErr(pp+".mode", "must be auto, approve or off; got %q", p.Mode))
	}
	if p.Cooldown < 0 {
		errs = append(errs, fieldErr(pp+".cooldown", "must not be negative"))
	}
	if p.MaxTargets < 1 {
		errs = append(errs, fieldErr(pp+".max_targets", "must be at least 1"))
	}
	if p.VerifyWindow <= 0 {
		errs = append(errs, fieldErr(pp+".verify_window", "must be positive"))
	}
	if p.Duration <= 0 {
		errs = append(errs, fieldErr(pp+".duration", "must be positive"))
	}
	if p.Action == ActionRaiseMargin && (!(p.Margin > 0 && p.Margin <= 1) || math.IsNaN(p.Margin)) {
		errs = append(errs, fieldErr(pp+".margin", "must be in (0, 1], got %v", p.Margin))
	}
	if p.Action == ActionCapProject && p.Cap <= 0 {
		errs = append(errs, fieldErr(pp+".cap", "required for cap_project and must be above zero"))
	}
	return errs
}

// Playbook returns the playbook for an alert name.
func (c *AlertingConfig) Playbook(alert string) (PlaybookConfig, bool) {
	for _, p := range c.Playbooks {
		if p.Alert == alert {
			return p, true
		}
	}
	return PlaybookConfig{}, false
}
