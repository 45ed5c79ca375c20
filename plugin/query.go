package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/headroomhq/headroom/api/client"
	"github.com/headroomhq/headroom/api/wire"
)

// Query types.
const (
	QueryQuotas    = "quotas"    // quota, demand and share over time per project
	QueryLedger    = "ledger"    // the borrowing ledger: decisions with lenders and borrowers
	QueryThrottled = "throttled" // demand above quota over time
	QueryDetector  = "detector"  // the detector's forecasts: rate, baseline, forecast upper bound, anomaly score, state
	QueryAlerts    = "alerts"    // incidents as annotations
	QueryTopN      = "topn"      // the top N projects by one of TopNMetrics
)

// TopNMetrics are what top N ranks by, each the mean over the time
// range's decisions in bytes/s per broker (throttle_ms in milliseconds),
// or over its detector signals (score, the anomaly score in [0,1]).
var TopNMetrics = []string{"throttled", "borrowed", "lent", "demand", "quota", "forecast", "throttle_ms", "score"}

// Query is the JSON model of one panel query.
type Query struct {
	QueryType string `json:"queryType"`
	// Project selects one project; empty means every project.
	Project string `json:"project"`
	// Direction is produce or fetch. Default produce.
	Direction string `json:"direction"`
	// Metric ranks top N: one of TopNMetrics. Default throttled.
	Metric string `json:"metric"`
	// N is how many projects top N keeps. Default 10.
	N int `json:"n"`
}

// QueryData answers every query; one bad query does not fail the others.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp := backend.NewQueryDataResponse()
	for _, q := range req.Queries {
		resp.Responses[q.RefID] = d.query(ctx, q)
	}
	return resp, nil
}

func (d *Datasource) query(ctx context.Context, dq backend.DataQuery) backend.DataResponse {
	var q Query
	if err := json.Unmarshal(dq.JSON, &q); err != nil {
		return backend.ErrDataResponse(backend.StatusBadRequest, "invalid query: "+err.Error())
	}
	if q.QueryType == "" {
		q.QueryType = dq.QueryType
	}
	if q.Direction == "" {
		q.Direction = "produce"
	}
	if q.Direction != "produce" && q.Direction != "fetch" {
		return backend.ErrDataResponse(backend.StatusBadRequest, fmt.Sprintf("direction %q: want produce or fetch", q.Direction))
	}
	var frames data.Frames
	var err error
	switch q.QueryType {
	case QueryQuotas, QueryThrottled, QueryLedger:
		frames, err = d.perProject(ctx, q, dq.TimeRange)
	case QueryDetector:
		frames, err = d.detector(ctx, q, dq.TimeRange)
	case QueryAlerts:
		frames, err = d.alerts(ctx, dq.TimeRange)
	case QueryTopN:
		frames, err = d.topN(ctx, q, dq.TimeRange)
	default:
		return backend.ErrDataResponse(backend.StatusBadRequest,
			fmt.Sprintf("unknown query type %q (want quotas, ledger, throttled, detector, alerts or topn)", q.QueryType))
	}
	var bq *badQuery
	var ae *client.Error
	switch {
	case errors.As(err, &bq), errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		return backend.ErrDataResponse(backend.StatusBadRequest, err.Error())
	case err != nil:
		return backend.ErrDataResponse(backend.StatusBadGateway, err.Error())
	}
	return backend.DataResponse{Frames: frames}
}

// badQuery is a query the panel got wrong, as opposed to an API failure.
type badQuery struct{ msg string }

func (e *badQuery) Error() string { return e.msg }

func (d *Datasource) projects(ctx context.Context, only string) ([]string, error) {
	if only != "" {
		return []string{only}, nil
	}
	if d.settingsErr != nil {
		return nil, d.settingsErr
	}
	ps, err := d.api.Projects(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out, nil
}

// span is the API's selection of one project's series over a panel's
// time range.
func span(project, direction string, tr backend.TimeRange) client.Span {
	return client.Span{Project: project, Direction: direction, From: tr.From, To: tr.To, Limit: 10000}
}

func (d *Datasource) history(ctx context.Context, project, direction string, tr backend.TimeRange) ([]wire.LedgerView, error) {
	if d.settingsErr != nil {
		return nil, d.settingsErr
	}
	es, err := d.api.Ledger(ctx, span(project, direction, tr))
	if err != nil {
		return nil, fmt.Errorf("ledger of %s: %w", project, err)
	}
	return es, nil
}

// num is a rate the ledger may not know (null): 0 then.
func num(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

func transfers(ts []wire.LedgerTransfer) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%s:%.0f", t.Project, t.Bytes))
	}
	return strings.Join(parts, ",")
}

func (d *Datasource) perProject(ctx context.Context, q Query, tr backend.TimeRange) (data.Frames, error) {
	projects, err := d.projects(ctx, q.Project)
	if err != nil {
		return nil, err
	}
	var frames data.Frames
	for _, p := range projects {
		es, err := d.history(ctx, p, q.Direction, tr)
		if err != nil {
			return nil, err
		}
		labels := data.Labels{"project": p, "direction": q.Direction}
		n := len(es)
		times := make([]time.Time, n)
		for i, e := range es {
			times[i] = e.At
		}
		f := data.NewFrame(p, data.NewField("time", nil, times))
		switch q.QueryType {
		case QueryQuotas:
			quota, demand, share := make([]float64, n), make([]float64, n), make([]float64, n)
			for i, e := range es {
				quota[i], demand[i], share[i] = num(e.After), num(e.Demand), num(e.Share)
			}
			f.Fields = append(f.Fields,
				data.NewField("quota", labels, quota).SetConfig(&data.FieldConfig{Unit: "Bps"}),
				data.NewField("demand", labels, demand).SetConfig(&data.FieldConfig{Unit: "Bps"}),
				data.NewField("share", labels, share).SetConfig(&data.FieldConfig{Unit: "Bps"}))
		case QueryThrottled:
			thr, ms := make([]float64, n), make([]float64, n)
			for i, e := range es {
				thr[i], ms[i] = throttled(e), num(e.ThrottleMs)
			}
			f.Fields = append(f.Fields, data.NewField("throttled", labels, thr).SetConfig(&data.FieldConfig{Unit: "Bps"}),
				data.NewField("throttle_ms", labels, ms).SetConfig(&data.FieldConfig{Unit: "ms"}))
		case QueryLedger:
			before, after := make([]float64, n), make([]float64, n)
			outcome, reasons, from, to := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			for i, e := range es {
				before[i], after[i], outcome[i] = num(e.Before), num(e.After), e.Outcome
				reasons[i] = strings.Join(e.Reasons, ",")
				from[i], to[i] = transfers(e.BorrowedFrom), transfers(e.LentTo)
			}
			f.Fields = append(f.Fields,
				data.NewField("project", nil, repeat(p, n)),
				data.NewField("before", nil, before).SetConfig(&data.FieldConfig{Unit: "Bps"}),
				data.NewField("after", nil, after).SetConfig(&data.FieldConfig{Unit: "Bps"}),
				data.NewField("outcome", nil, outcome), data.NewField("reasons", nil, reasons),
				data.NewField("borrowed_from", nil, from), data.NewField("lent_to", nil, to))
		}
		frames = append(frames, f)
	}
	return frames, nil
}

func (d *Datasource) signals(ctx context.Context, project, direction string, tr backend.TimeRange) ([]wire.SignalView, error) {
	if d.settingsErr != nil {
		return nil, d.settingsErr
	}
	ss, err := d.api.Signals(ctx, span(project, direction, tr))
	if err != nil {
		return nil, fmt.Errorf("detector signals of %s: %w", project, err)
	}
	return ss, nil
}

// detector answers the detector's forecasts, one frame per project:
// the rate it saw, its baseline (the rate it expected one horizon ahead),
// the forecast's upper bound (the limiter's demand), the anomaly score
// and the shift state.
func (d *Datasource) detector(ctx context.Context, q Query, tr backend.TimeRange) (data.Frames, error) {
	projects, err := d.projects(ctx, q.Project)
	if err != nil {
		return nil, err
	}
	var frames data.Frames
	for _, p := range projects {
		ss, err := d.signals(ctx, p, q.Direction, tr)
		if err != nil {
			return nil, err
		}
		labels := data.Labels{"project": p, "direction": q.Direction}
		n := len(ss)
		times, states := make([]time.Time, n), make([]string, n)
		rate, baseline, upper, score := make([]*float64, n), make([]*float64, n), make([]*float64, n), make([]*float64, n)
		for i, s := range ss {
			times[i], states[i] = s.At, s.State
			rate[i], baseline[i], upper[i], score[i] = s.Rate, s.Expected, s.Upper, s.Score
		}
		frames = append(frames, data.NewFrame(p,
			data.NewField("time", nil, times),
			data.NewField("rate", labels, rate).SetConfig(&data.FieldConfig{Unit: "Bps"}),
			data.NewField("baseline", labels, baseline).SetConfig(&data.FieldConfig{Unit: "Bps"}),
			data.NewField("forecast_upper", labels, upper).SetConfig(&data.FieldConfig{Unit: "Bps"}),
			data.NewField("score", labels, score).SetConfig(&data.FieldConfig{Unit: "percentunit", Min: &scoreMin, Max: &scoreMax}),
			data.NewField("state", labels, states)))
	}
	return frames, nil
}

// The anomaly score's axis.
var scoreMin, scoreMax = data.ConfFloat64(0), data.ConfFloat64(1)

// throttled is the demand the quota in force did not serve, bytes/s per
// broker.
func throttled(e wire.LedgerView) float64 { return max(0, num(e.Demand)-num(e.Before)) }

// value is one decision's contribution to a top N metric.
func value(e wire.LedgerView, metric string) float64 {
	sum := func(ts []wire.LedgerTransfer) (s float64) {
		for _, t := range ts {
			s += t.Bytes
		}
		return s
	}
	switch metric {
	case "throttled":
		return throttled(e)
	case "borrowed":
		return sum(e.BorrowedFrom)
	case "lent":
		return sum(e.LentTo)
	case "demand":
		return num(e.Demand)
	case "quota":
		return num(e.After)
	case "forecast":
		return num(e.Forecast)
	case "throttle_ms":
		return num(e.ThrottleMs)
	}
	return 0
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func (d *Datasource) alerts(ctx context.Context, tr backend.TimeRange) (data.Frames, error) {
	if d.settingsErr != nil {
		return nil, d.settingsErr
	}
	ins, err := d.api.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	var start, end []time.Time
	var title, text, tags []string
	for _, in := range ins {
		if in.UpdatedAt.Before(tr.From) || in.OpenedAt.After(tr.To) {
			continue
		}
		start, end = append(start, in.OpenedAt), append(end, in.UpdatedAt)
		title = append(title, fmt.Sprintf("%s #%d (%s)", in.AlertName, in.ID, in.State))
		var ls []string
		for k, v := range in.Labels {
			ls = append(ls, k+"="+v)
		}
		sort.Strings(ls)
		text = append(text, strings.Join(ls, " "))
		tags = append(tags, in.State)
	}
	f := data.NewFrame("alerts",
		data.NewField("time", nil, start), data.NewField("timeEnd", nil, end),
		data.NewField("title", nil, title), data.NewField("text", nil, text), data.NewField("tags", nil, tags))
	f.SetMeta(&data.FrameMeta{DataTopic: data.DataTopicAnnotations})
	return data.Frames{f}, nil
}

func (d *Datasource) topN(ctx context.Context, q Query, tr backend.TimeRange) (data.Frames, error) {
	if q.N <= 0 {
		q.N = 10
	}
	if q.Metric == "" {
		q.Metric = "throttled"
	}
	if !slices.Contains(TopNMetrics, q.Metric) {
		return nil, &badQuery{fmt.Sprintf("metric %q: want one of %s", q.Metric, strings.Join(TopNMetrics, ", "))}
	}
	projects, err := d.projects(ctx, "")
	if err != nil {
		return nil, err
	}
	type row struct {
		project string
		value   float64
	}
	var rows []row
	for _, p := range projects {
		// Mean over the range's decisions or signals.
		var sum float64
		var n int
		if q.Metric == "score" {
			ss, err := d.signals(ctx, p, q.Direction, tr)
			if err != nil {
				return nil, err
			}
			for _, s := range ss {
				if s.Score != nil {
					sum += *s.Score
					n++
				}
			}
		} else {
			es, err := d.history(ctx, p, q.Direction, tr)
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				sum += value(e, q.Metric)
			}
			n = len(es)
		}
		if n > 0 {
			sum /= float64(n)
		}
		rows = append(rows, row{p, sum})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].value > rows[j].value })
	unit := "Bps"
	switch q.Metric {
	case "throttle_ms":
		unit = "ms"
	case "score":
		unit = "percentunit"
	}
	rows = rows[:min(q.N, len(rows))]
	names, values := make([]string, len(rows)), make([]float64, len(rows))
	for i, r := range rows {
		names[i], values[i] = r.project, r.value
	}
	return data.Frames{data.NewFrame("top "+q.Metric,
		data.NewField("project", nil, names),
		data.NewField(q.Metric, nil, values).SetConfig(&data.FieldConfig{Unit: unit}))}, nil
}
