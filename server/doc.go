// Package server owns Headroom's process surface: the HTTP endpoints every
// Prometheus-style daemon has (/metrics, /-/healthy, /-/ready, /-/reload),
// the listener with its exporter-toolkit web configuration (TLS, client
// certificates, basic-auth users for the process endpoints), and the live
// configuration, which it reloads and swaps atomically.
//
// It must not import the collector, detector, limiter or alerting packages;
// those read the live configuration through Config and subscribe to reloads.
package server
