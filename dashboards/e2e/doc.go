// Package e2e holds the dashboards' end-to-end test: every PromQL
// expression of every committed dashboard, evaluated through a real
// Prometheus that scrapes a lab cluster under load, Headroom's daemon
// running on it (with a real Alertmanager in its alert loop), a real
// node_exporter and a consumer-lag exporter, must return data. The
// Prometheus rules in deploy/ are loaded into the same Prometheus and must
// evaluate without error.
//
// It has no code outside its test; it imports the dashboards package and
// the test rigs, and nothing imports it.
package e2e
