package api

import "github.com/headroomhq/headroom/api/wire"

// The API's answers are the wire types, named here as the API has always
// named them.
type (
	Problem      = wire.Problem
	GroupView    = wire.GroupView
	RatesView    = wire.RatesView
	ProjectView  = wire.ProjectView
	QuotaView    = wire.QuotaView
	QuotaState   = wire.QuotaState
	OverrideView = wire.OverrideView
	SignalView   = wire.SignalView
	LedgerView   = wire.LedgerView
	Explanation  = wire.Explanation
	IncidentView = wire.IncidentView
	DamageView   = wire.DamageView
	DamageAnswer = wire.DamageAnswer
	RejectBody   = wire.RejectBody
)
