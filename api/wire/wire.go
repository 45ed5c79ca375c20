// Package wire holds the types of Headroom's HTTP API as they travel: the
// answers of /api/v1 and its problem documents. The API (package api)
// answers with them and the typed client (package api/client) decodes
// them, so that the two cannot drift apart. A request body the API decodes
// strictly against the domain (an override's spec) travels as raw JSON
// here.
//
// It must not import any Headroom package: ctl and the Grafana plugin link
// it without the server.
package wire

import (
	"encoding/json"
	"time"
)

// ProblemField is one entry of a problem document's errors: the path of a
// field of the request and what is wrong with it. It is the JSON form of a
// config.FieldError (Headroom's one error type for a field's problem),
// kept here because this package imports nothing of Headroom.
type ProblemField struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Health is GET /api/v1/health.
type Health struct {
	Status string `json:"status"`
}

// LedgerTransfer is capacity lent or borrowed, bytes/s per broker.
type LedgerTransfer struct {
	Project string  `json:"project"`
	Bytes   float64 `json:"bytes"`
}

// IncidentStep is one step of an incident's lifecycle.
type IncidentStep struct {
	ID         int64
	IncidentID int64
	At         time.Time
	From, To   string
	Actor      string
	Action     string
	// Result is free text or JSON describing what the step did.
	Result string
}

// RejectBody is the body of POST /api/v1/alerts/{id}/reject.
type RejectBody struct {
	Reason string `json:"reason"`
}

// GroupView is a resource group in API answers.
type GroupView struct {
	Name     string    `json:"name"`
	Cluster  string    `json:"cluster"`
	Brokers  []int32   `json:"brokers"`
	Capacity RatesView `json:"capacity"`
	Margin   float64   `json:"margin"`
	Frozen   bool      `json:"frozen"`
	Projects []string  `json:"projects"`
}

// RatesView holds bytes/s per direction.
type RatesView struct {
	Produce float64 `json:"produce"`
	Fetch   float64 `json:"fetch"`
}

// ProjectView is a project in API answers.
type ProjectView struct {
	Name    string    `json:"name"`
	Group   string    `json:"group"`
	Entity  string    `json:"entity"`
	Produce QuotaView `json:"produce"`
	Fetch   QuotaView `json:"fetch"`
}

// QuotaView is a project's policy in one direction, bytes/s per broker.
type QuotaView struct {
	Share   float64  `json:"share"`
	Floor   float64  `json:"floor"`
	Ceiling float64  `json:"ceiling"`
	Weight  float64  `json:"weight"`
	Pin     *float64 `json:"pin,omitempty"`
}

// QuotaState is one project's quota in one direction: the plan and what
// the cluster holds.
type QuotaState struct {
	Project   string   `json:"project"`
	Entity    string   `json:"entity"`
	Direction string   `json:"direction"`
	Planned   *float64 `json:"planned,omitempty"`
	PlannedAt string   `json:"planned_at,omitempty"`
	Outcome   string   `json:"outcome,omitempty"`
	Cluster   *float64 `json:"cluster,omitempty"`
	Share     float64  `json:"share"`
}

// SignalView is one detector forecast in API answers. Rates are bytes/s
// per broker; expected is the baseline the detector forecast one horizon
// ahead, upper its upper bound (the limiter's demand), score the anomaly
// score in [0,1]. A value the detector did not know is null.
type SignalView struct {
	At        time.Time `json:"at"`
	Project   string    `json:"project"`
	Direction string    `json:"direction"`
	Rate      *float64  `json:"rate"`
	Expected  *float64  `json:"expected"`
	Upper     *float64  `json:"upper"`
	Score     *float64  `json:"score"`
	State     string    `json:"state"`
}

// LedgerView is a ledger entry in API answers: the store's fields under
// the same names, with a rate the limiter did not know (NaN in the store)
// as null, which JSON can carry.
type LedgerView struct {
	At                                                                                time.Time
	Round                                                                             int64
	Group, Direction, Project, Entity, Mode, Outcome                                  string
	Before, After, Ideal, Target, Share, Observed, Rate, Demand, Forecast, ThrottleMs *float64
	HotBroker                                                                         int32
	Reasons                                                                           []string
	BorrowedFrom, LentTo                                                              []LedgerTransfer
	Note, Error                                                                       string
}

// Explanation answers "why did project X have quota Y at time T".
type Explanation struct {
	Project   string     `json:"project"`
	Direction string     `json:"direction"`
	At        time.Time  `json:"at"`
	Decision  LedgerView `json:"decision"`
	Summary   string     `json:"summary"`
}

// IncidentView is an incident in API answers.
type IncidentView struct {
	ID          int64             `json:"id"`
	AlertName   string            `json:"alertname"`
	State       string            `json:"state"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	OpenedAt    time.Time         `json:"opened_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	Handling    json.RawMessage   `json:"handling"`
	Steps       []IncidentStep    `json:"steps,omitempty"`
}

// DamageView is the damage ledger of one project and direction over a span:
// bytes throttled under Headroom's quotas, bytes the static shares would
// have throttled, and what borrowing saved.
type DamageView struct {
	Project       string  `json:"project"`
	Direction     string  `json:"direction"`
	HeadroomBytes float64 `json:"headroom_bytes"`
	StaticBytes   float64 `json:"static_bytes"`
	AvoidedBytes  float64 `json:"avoided_bytes"`
	Rounds        int     `json:"rounds"`
}

// DamageAnswer is GET /api/v1/damage.
type DamageAnswer struct {
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	Projects []DamageView `json:"projects"`
	Total    DamageView   `json:"total"`
	// AvoidedRatio is 1 − headroom/static over every project, null when
	// the static shares would have throttled nothing.
	AvoidedRatio *float64 `json:"avoided_ratio"`
}

// OverrideView is an override in API answers.
type OverrideView struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	Spec      json.RawMessage `json:"spec"`
	Version   int             `json:"version"`
	UpdatedBy string          `json:"updated_by"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Errors []ProblemField `json:"errors,omitempty"`
}
