package sim

// exemptLoad gives a reference policy (the oracles) the exempt traffic of
// the round it decides for, which it knows as it knows the demand: each
// broker's safe capacity less what no policy may throttle there.
type exemptLoad struct {
	// safe is the group's safe capacity per broker.
	safe float64
	// load is the round's exempt traffic per broker, or nil for none. It
	// is the runner's and valid during one call.
	load []float64
}

// setExempt implements exemptAware.
func (e *exemptLoad) setExempt(load []float64) { e.load = load }

// safeAt is broker b's safe capacity left to the projects this round.
func (e *exemptLoad) safeAt(b int) float64 {
	if e.load == nil {
		return e.safe
	}
	return max(0, e.safe-e.load[b])
}

// exemptAware is implemented by the policies that see the round's exempt
// traffic before they decide: the references, with foresight.
type exemptAware interface {
	setExempt(load []float64)
}
