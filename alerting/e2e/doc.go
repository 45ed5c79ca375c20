// Package e2e holds the end-to-end test of the alert loop: sustained
// throttling in a lab cluster (real Kafka protocol) is scraped by the
// collector, seen by the detector and the rules, posted to real
// Alertmanagers, delivered back through the webhook, handled by a
// playbook that writes quotas through the applier, verified, and resolved
// in Alertmanager. It has no code outside its tests.
package e2e
