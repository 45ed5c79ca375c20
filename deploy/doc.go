// Package deploy holds what running Headroom in production needs besides
// the binary: the systemd unit (systemd/), Kubernetes manifests
// (kubernetes/), Prometheus recording and alerting rules with their promtool
// unit tests (prometheus/rules/), and an Alertmanager configuration that
// routes to Headroom's webhook (alertmanager/). It has no Go code of its
// own; its tests check those files with the real promtool and amtool, and
// check that every metric a rule selects is one Headroom registers, a
// collector profile reads from an exporter, or a rule records. Its tests
// import collector (for the profiles) and nothing else of Headroom.
package deploy
