// Package config owns Headroom's configuration file: its schema, the defaults
// (DefaultConfig), strict YAML loading in which unknown fields are errors, and
// validation that reports every problem with its YAML path. Its strict-YAML
// engine (DecodeStrict) and its FieldError are Headroom's only ones: scenario
// files and overrides use them too. It also holds the two small types every
// stage shares: Direction (produce or fetch) and Entity (a client-quota
// entity), so that the collector, the detector, the limiter, the round and
// the simulator speak of them in one way.
//
// Each component section (collector, detector, limiter, alerting, api, store)
// lives in a file of its own. Package config imports no other Headroom
// package; components import config, never the other way round.
package config
