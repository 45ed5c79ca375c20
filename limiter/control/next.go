package control

// SetNextRound sets the index the next Step records, so that a restarted
// process continues the ledger's numbering instead of starting at zero.
func (c *Controller) SetNextRound(n int64) { c.round = n }
