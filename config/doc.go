// Package config owns Headroom's configuration file: its schema, the defaults
// (DefaultConfig), strict YAML loading in which unknown fields are errors, and
// validation that reports every problem with its YAML path. Its strict-YAML
// engine (DecodeStrict) and its FieldError are Headroom's only ones: scenario
// files and overrides use them too.
//
// Each component section (collector, detector, limiter, alerting, api, store)
// lives in a file of its own. Package config imports no other Headroom
// package; components import config, never the other way round.
package config
