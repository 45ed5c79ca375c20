package config

import (
	"time"

	"github.com/prometheus/common/model"
)

// StoreConfig configures persistence.
type StoreConfig struct {
	// Path is the SQLite database file. Default "data/headroom.db".
	Path string `yaml:"path"`
	// Retention is how long ledger rows are kept. Default 30d.
	Retention model.Duration `yaml:"retention"`
}

// DefaultStoreConfig returns the store defaults.
func DefaultStoreConfig() StoreConfig {
	return StoreConfig{Path: "data/headroom.db", Retention: model.Duration(30 * 24 * time.Hour)}
}

// Validate reports the section's problems.
func (c *StoreConfig) Validate() []error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, fieldErr("path", "required"))
	}
	if time.Duration(c.Retention) < time.Hour {
		errs = append(errs, fieldErr("retention", "must be at least 1h"))
	}
	return errs
}
