// Package alerting owns Headroom's alert loop once an alert exists: the
// incident lifecycle (detected, firing, acknowledged, handling, and resolved
// or escalated), the playbooks that handle alerts automatically or after
// approval, verification that an action cleared its condition, and the
// rollback and escalation when it did not. Every step is recorded in the
// store with its time, actor and result.
//
// Sending alerts to Alertmanager is package alerting/notifier; receiving
// Alertmanager's webhook is package alerting/webhook.
//
// Playbooks act on the limiter only through the Overrides interface;
// ServiceOverrides implements it over the limiter's override service
// (limiter/overrides), the write path the API uses too. The package must
// not import the limiter, detector or collector.
package alerting
