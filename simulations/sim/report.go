package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/headroomhq/headroom/simulations/scenario"
)

// Result is the outcome of one scenario for every policy run.
type Result struct {
	Scenario string
	// Rounds is how many rounds were run, each of Round.
	Rounds   int
	Round    time.Duration
	Projects int
	Brokers  int
	Policies []PolicyResult
}

// PolicyResult is one policy's figures and, if asked for, its series.
type PolicyResult struct {
	Name string
	Figures
	// Series is nil unless Options.SeriesPoints was set.
	Series *Series
}

// Figures judge one policy's decisions over a run, both directions summed.
// Bytes are bytes over the whole run.
type Figures struct {
	// DemandBytes is what the projects wanted to move.
	DemandBytes float64
	// ThrottledBytes is demand not served: the business damage.
	ThrottledBytes float64
	// WindowCreditBytes is what the policy's projects were credited as
	// served above their quota in force, in rounds after they used less
	// of it (Kafka's window remembers the unused part). The references,
	// served min(demand, quota), have none; ThrottledBytes +
	// WindowCreditBytes of a policy that sets one quota per project and
	// keeps strict safety is never below oracle-kafka's ThrottledBytes.
	WindowCreditBytes float64
	// ThrottledPercent is ThrottledBytes as a percentage of DemandBytes.
	ThrottledPercent float64
	// VsStatic, VsOracle, VsOracleKafka and VsOracleCausal are
	// ThrottledBytes divided by those policies'; NaN when that policy was
	// not run, +Inf when only it throttled nothing.
	VsStatic, VsOracle, VsOracleKafka, VsOracleCausal float64
	// StrictSafe says whether the quotas in force summed to at most
	// margin × capacity on every broker in every round; UnsafeRounds
	// counts the rounds (per direction) where they did not. For the
	// oracle, whose "quota" is what its hottest broker serves, it says
	// whether a quota plan could have served like it.
	StrictSafe   bool
	UnsafeRounds int
	// OverloadRounds counts rounds in which some broker's load, as
	// Kafka's windowed rates show it at the end of the round, was above
	// its safe capacity in some direction by more than one request per
	// client and window (what Kafka's enforcement lets a client exceed its
	// quota by); OverloadBytes is the excess over safe capacity.
	OverloadRounds int
	OverloadBytes  float64
	// LenderViolationRounds counts rounds in which some project's demand
	// was at or below its share but its quota was below that demand.
	LenderViolationRounds int
	// ReclaimEpisodes counts those shortfalls; ReclaimMaxRounds and
	// ReclaimMeanRounds say how many rounds passed before the lender's
	// demand was served again.
	ReclaimEpisodes   int
	ReclaimMaxRounds  int
	ReclaimMeanRounds float64
	// Writes counts quota changes (per project and direction);
	// WritesPerProjectHour spreads them over projects and hours.
	Writes               int
	WritesPerProjectHour float64
	// Jain is Jain's fairness index of the served fraction of demand among
	// the projects that were throttled at all; NaN when none was.
	Jain float64
	// ThrottledProjects counts projects that lost any demand.
	ThrottledProjects int
	// RoundSeconds is the policy's mean wall time per round (both
	// directions), the time it takes to decide.
	RoundSeconds float64
	// LPSolves counts the linear programs the oracle handed to the
	// simplex (brokers whose demand fits need none); 0 for other policies.
	LPSolves int
}

func finish(s *scenario.Scenario, rounds int, runs []*policyRun) *Result {
	res := &Result{
		Scenario: s.Name,
		Rounds:   rounds,
		Round:    s.RoundInterval(),
		Projects: len(s.Projects),
		Brokers:  s.Brokers.Count,
	}
	hours := float64(rounds) * s.RoundInterval().Hours()
	for _, pr := range runs {
		f := pr.fig
		// Lender shortfalls still running at the end count as episodes.
		for _, rn := range pr.dirs {
			for _, start := range rn.violates {
				if start >= 0 {
					pr.endEpisode(rounds - start)
				}
			}
		}
		if f.DemandBytes > 0 {
			f.ThrottledPercent = 100 * f.ThrottledBytes / f.DemandBytes
		}
		f.ReclaimEpisodes = pr.reclaimN
		f.ReclaimMaxRounds = pr.reclaimMax
		if pr.reclaimN > 0 {
			f.ReclaimMeanRounds = float64(pr.reclaimSum) / float64(pr.reclaimN)
		}
		if hours > 0 && len(s.Projects) > 0 {
			f.WritesPerProjectHour = float64(f.Writes) / float64(len(s.Projects)) / hours
		}
		f.Jain, f.ThrottledProjects = jain(pr.demand, pr.thrott)
		f.RoundSeconds = pr.planDur.Seconds() / float64(rounds)
		for _, rn := range pr.dirs {
			switch o := rn.policy.(type) {
			case *oracle:
				f.LPSolves += o.solves
			case *kafkaOracle:
				f.LPSolves += o.solves
			}
			f.UnsafeRounds += rn.unsafe
		}
		f.StrictSafe = f.UnsafeRounds == 0
		if pr.series != nil {
			pr.series.finish()
		}
		res.Policies = append(res.Policies, PolicyResult{Name: pr.name, Figures: f, Series: pr.series})
	}
	static, oracle, okafka, ocausal := math.NaN(), math.NaN(), math.NaN(), math.NaN()
	for _, p := range res.Policies {
		switch p.Name {
		case "static":
			static = p.ThrottledBytes
		case "oracle":
			oracle = p.ThrottledBytes
		case "oracle-kafka":
			okafka = p.ThrottledBytes
		case "oracle-causal":
			ocausal = p.ThrottledBytes
		}
	}
	for i := range res.Policies {
		p := &res.Policies[i]
		p.VsStatic = ratio(p.ThrottledBytes, static)
		p.VsOracle = ratio(p.ThrottledBytes, oracle)
		p.VsOracleKafka = ratio(p.ThrottledBytes, okafka)
		p.VsOracleCausal = ratio(p.ThrottledBytes, ocausal)
	}
	return res
}

// ratio is a/b, NaN when b is unknown, 1 when both are zero and +Inf when
// only b is.
func ratio(a, b float64) float64 {
	switch {
	case math.IsNaN(b):
		return math.NaN()
	case b == 0 && a == 0:
		return 1
	case b == 0:
		return math.Inf(1)
	}
	return a / b
}

// jain returns Jain's fairness index (Σx)²/(n·Σx²) of x = served/demand over
// the projects that were throttled, and how many there were.
func jain(demand, throttled []float64) (float64, int) {
	var sum, sq float64
	n := 0
	for i, d := range demand {
		if d <= 0 || throttled[i] <= 1e-9*d {
			continue
		}
		x := (d - throttled[i]) / d
		sum += x
		sq += x * x
		n++
	}
	if n == 0 {
		return math.NaN(), 0
	}
	if sq == 0 {
		return 1, n
	}
	return sum * sum / (float64(n) * sq), n
}

// jsonFloat renders NaN and ±Inf as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

type jsonPolicy struct {
	Name                  string    `json:"name"`
	DemandBytes           jsonFloat `json:"demand_bytes"`
	ThrottledBytes        jsonFloat `json:"throttled_bytes"`
	ThrottledPercent      jsonFloat `json:"throttled_percent"`
	WindowCreditBytes     jsonFloat `json:"window_credit_bytes"`
	VsStatic              jsonFloat `json:"throttled_vs_static"`
	VsOracle              jsonFloat `json:"throttled_vs_oracle"`
	VsOracleKafka         jsonFloat `json:"throttled_vs_oracle_kafka"`
	VsOracleCausal        jsonFloat `json:"throttled_vs_oracle_causal"`
	StrictSafe            bool      `json:"strict_safe"`
	UnsafeRounds          int       `json:"unsafe_rounds"`
	OverloadRounds        int       `json:"overload_rounds"`
	OverloadBytes         jsonFloat `json:"overload_bytes"`
	LenderViolationRounds int       `json:"lender_violation_rounds"`
	ReclaimEpisodes       int       `json:"reclaim_episodes"`
	ReclaimMaxRounds      int       `json:"reclaim_latency_max_rounds"`
	ReclaimMeanRounds     jsonFloat `json:"reclaim_latency_mean_rounds"`
	Writes                int       `json:"writes"`
	WritesPerProjectHour  jsonFloat `json:"writes_per_project_hour"`
	Jain                  jsonFloat `json:"jain_fairness_throttled"`
	ThrottledProjects     int       `json:"throttled_projects"`
	RoundSeconds          jsonFloat `json:"round_seconds"`
	LPSolves              int       `json:"lp_solves,omitempty"`
}

type jsonResult struct {
	Scenario     string       `json:"scenario"`
	Rounds       int          `json:"rounds"`
	RoundSeconds float64      `json:"round_interval_seconds"`
	Projects     int          `json:"projects"`
	Brokers      int          `json:"brokers"`
	Policies     []jsonPolicy `json:"policies"`
}

// MarshalJSON renders the figures for machines; unknown ratios are null.
func (r *Result) MarshalJSON() ([]byte, error) {
	out := jsonResult{
		Scenario:     r.Scenario,
		Rounds:       r.Rounds,
		RoundSeconds: r.Round.Seconds(),
		Projects:     r.Projects,
		Brokers:      r.Brokers,
		Policies:     make([]jsonPolicy, 0, len(r.Policies)),
	}
	for _, p := range r.Policies {
		out.Policies = append(out.Policies, jsonPolicy{
			Name:                  p.Name,
			DemandBytes:           jsonFloat(p.DemandBytes),
			ThrottledBytes:        jsonFloat(p.ThrottledBytes),
			ThrottledPercent:      jsonFloat(p.ThrottledPercent),
			WindowCreditBytes:     jsonFloat(p.WindowCreditBytes),
			VsStatic:              jsonFloat(p.VsStatic),
			VsOracle:              jsonFloat(p.VsOracle),
			VsOracleKafka:         jsonFloat(p.VsOracleKafka),
			VsOracleCausal:        jsonFloat(p.VsOracleCausal),
			StrictSafe:            p.StrictSafe,
			UnsafeRounds:          p.UnsafeRounds,
			OverloadRounds:        p.OverloadRounds,
			OverloadBytes:         jsonFloat(p.OverloadBytes),
			LenderViolationRounds: p.LenderViolationRounds,
			ReclaimEpisodes:       p.ReclaimEpisodes,
			ReclaimMaxRounds:      p.ReclaimMaxRounds,
			ReclaimMeanRounds:     jsonFloat(p.ReclaimMeanRounds),
			Writes:                p.Writes,
			WritesPerProjectHour:  jsonFloat(p.WritesPerProjectHour),
			Jain:                  jsonFloat(p.Jain),
			ThrottledProjects:     p.ThrottledProjects,
			RoundSeconds:          jsonFloat(p.RoundSeconds),
			LPSolves:              p.LPSolves,
		})
	}
	return json.Marshal(out)
}

// WriteJSON writes the results as one JSON document: an object for one
// scenario, an array for several.
func WriteJSON(w io.Writer, results []*Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if len(results) == 1 {
		return enc.Encode(results[0])
	}
	return enc.Encode(results)
}

// tableHeader names the columns of the Markdown table.
var tableHeader = []string{
	"scenario", "policy", "throttled", "% of demand", "vs static", "vs oracle", "vs oracle-kafka", "vs oracle-causal", "strict safety",
	"overload rounds", "overload", "lender viol. rounds", "reclaim max/mean (rounds)",
	"writes", "writes/proj/h", "Jain (throttled)", "time/round",
}

// WriteMarkdown writes one Markdown table with a row per scenario and
// policy.
func WriteMarkdown(w io.Writer, results []*Result) error {
	var b strings.Builder
	b.WriteString("| " + strings.Join(tableHeader, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(tableHeader)) + "\n")
	for _, r := range results {
		for _, p := range r.Policies {
			cells := []string{
				r.Scenario, p.Name,
				bytesString(p.ThrottledBytes),
				fmt.Sprintf("%.3f%%", p.ThrottledPercent),
				ratioString(p.VsStatic), ratioString(p.VsOracle),
				ratioString(p.VsOracleKafka), ratioString(p.VsOracleCausal),
				safeString(p),
				fmt.Sprint(p.OverloadRounds), bytesString(p.OverloadBytes),
				fmt.Sprint(p.LenderViolationRounds),
				fmt.Sprintf("%d / %.1f", p.ReclaimMaxRounds, p.ReclaimMeanRounds),
				fmt.Sprint(p.Writes), fmt.Sprintf("%.2f", p.WritesPerProjectHour),
				ratioString(p.Jain),
				durationString(p.RoundSeconds),
			}
			b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTable writes the results for a terminal: the Markdown table, which
// reads well as plain text too.
func WriteTable(w io.Writer, results []*Result) error {
	for _, r := range results {
		if _, err := fmt.Fprintf(w, "%s: %d rounds of %s, %d projects on %d brokers\n",
			r.Scenario, r.Rounds, r.Round, r.Projects, r.Brokers); err != nil {
			return err
		}
	}
	return WriteMarkdown(w, results)
}

// bytesString renders a byte count with a binary unit and four
// significant digits, e.g. 21.32TiB.
func bytesString(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	u := 0
	for math.Abs(v) >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + units[u]
}

func ratioString(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.IsInf(v, 1):
		return "inf"
	}
	return fmt.Sprintf("%.3f", v)
}

func durationString(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", sec*1e3)
	default:
		return fmt.Sprintf("%.1fµs", sec*1e6)
	}
}

func safeString(p PolicyResult) string {
	if p.StrictSafe {
		return "yes"
	}
	return fmt.Sprintf("no (%d rounds)", p.UnsafeRounds)
}
