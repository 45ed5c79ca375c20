// Package kafkaadmin reads what only the Kafka admin API knows: partition
// leaders per broker (placement) and committed versus end offsets (consumer
// lag), with a Burrow-style status per group evaluated over a sliding
// window of observations.
//
// It talks to brokers through franz-go's kadm. It must not import the
// detector, the limiter or anything that consumes its output.
package kafkaadmin

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// Placement is which partitions each broker leads. Internal topics are
// left out. A partition without a leader (-1) is listed under Leaderless.
type Placement struct {
	Leaders    map[int32][]TopicPartition `json:"leaders"`
	Leaderless []TopicPartition           `json:"leaderless,omitempty"`
}

// Status is a Burrow-style consumer status.
type Status string

// Statuses, from best to worst.
const (
	// OK: lag was zero at some point in the window, or offsets advance and
	// lag shrinks.
	StatusOK Status = "OK"
	// WARN: offsets advance but lag never shrinks across the window.
	StatusWarn Status = "WARN"
	// STALL: the group has members, lag is positive and the committed
	// offset did not move over the whole window.
	StatusStall Status = "STALL"
	// STOP: the group has no members, lag is positive and the committed
	// offset did not move over the whole window.
	StatusStop Status = "STOP"
	// ERR: offsets could not be read.
	StatusErr Status = "ERR"
)

func rank(s Status) int {
	return slices.Index([]Status{StatusOK, StatusWarn, StatusStall, StatusStop, StatusErr}, s)
}

// PartitionLag is one partition of a group.
type PartitionLag struct {
	TopicPartition
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	Status    Status `json:"status"`
	Error     string `json:"error,omitempty"`
}

// GroupLag is one consumer group.
type GroupLag struct {
	Group string `json:"group"`
	State string `json:"state"`
	// Status is the worst partition status (ERR when the group could not
	// be read).
	Status Status `json:"status"`
	// Complete is false while the window holds fewer than Window
	// observations; Status is then provisional.
	Complete   bool           `json:"complete"`
	TotalLag   int64          `json:"total_lag"`
	Partitions []PartitionLag `json:"partitions"`
	Error      string         `json:"error,omitempty"`
}

type obs struct {
	t         time.Time
	committed int64
	lag       int64
}

type partKey struct {
	group string
	TopicPartition
}

// Reader reads placement and lag. Lag keeps per-partition history for the
// status, so call it once per round from one goroutine.
type Reader struct {
	adm    *kadm.Client
	now    func() time.Time
	window int
	hist   map[partKey][]obs
}

// NewReader returns a Reader with a window of window observations (Burrow's
// default is 10; at least 2).
func NewReader(adm *kadm.Client, now func() time.Time, window int) *Reader {
	return &Reader{adm: adm, now: now, window: max(window, 2), hist: map[partKey][]obs{}}
}

// Placement returns the partition leaders per broker.
func (r *Reader) Placement(ctx context.Context) (Placement, error) {
	md, err := r.adm.Metadata(ctx)
	if err != nil {
		return Placement{}, fmt.Errorf("read metadata: %w", err)
	}
	p := Placement{Leaders: map[int32][]TopicPartition{}}
	for _, b := range md.Brokers {
		p.Leaders[b.NodeID] = nil
	}
	for _, td := range md.Topics {
		if td.Err != nil {
			return Placement{}, fmt.Errorf("read metadata of topic %s: %w", td.Topic, td.Err)
		}
		if td.IsInternal {
			continue
		}
		for _, pd := range td.Partitions {
			tp := TopicPartition{td.Topic, pd.Partition}
			if pd.Leader < 0 {
				p.Leaderless = append(p.Leaderless, tp)
				continue
			}
			p.Leaders[pd.Leader] = append(p.Leaders[pd.Leader], tp)
		}
	}
	cmpTP := func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	}
	for b := range p.Leaders {
		slices.SortFunc(p.Leaders[b], cmpTP)
	}
	slices.SortFunc(p.Leaderless, cmpTP)
	return p, nil
}

// Lag reads every consumer group's committed and end offsets and evaluates
// each partition's status over the window.
func (r *Reader) Lag(ctx context.Context) ([]GroupLag, error) {
	listed, err := r.adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	if len(listed) == 0 {
		return nil, nil
	}
	lags, err := r.adm.Lag(ctx, listed.Groups()...)
	if err != nil {
		return nil, fmt.Errorf("read group lag: %w", err)
	}
	now := r.now()
	seen := map[partKey]bool{}
	var out []GroupLag
	for _, dl := range lags {
		g := GroupLag{Group: dl.Group, State: dl.State, Status: StatusOK, Complete: true}
		if err := dl.Error(); err != nil {
			g.Status, g.Error, g.Complete = StatusErr, err.Error(), false
			out = append(out, g)
			continue
		}
		hasMembers := len(dl.Members) > 0
		for _, ml := range dl.Lag.Sorted() {
			pl := PartitionLag{TopicPartition: TopicPartition{ml.Topic, ml.Partition},
				Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
			k := partKey{dl.Group, pl.TopicPartition}
			seen[k] = true
			if ml.Err != nil || ml.Lag < 0 {
				pl.Status = StatusErr
				if ml.Err != nil {
					pl.Error = ml.Err.Error()
				}
			} else {
				h := append(r.hist[k], obs{now, ml.Commit.At, ml.Lag})
				if len(h) > r.window {
					h = h[len(h)-r.window:]
				}
				r.hist[k] = h
				pl.Status = Evaluate(h2lags(h), hasMembers)
				if len(h) < r.window {
					g.Complete = false
				}
				g.TotalLag += ml.Lag
			}
			if rank(pl.Status) > rank(g.Status) {
				g.Status = pl.Status
			}
			g.Partitions = append(g.Partitions, pl)
		}
		out = append(out, g)
	}
	for k := range r.hist {
		if !seen[k] {
			delete(r.hist, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}

// Observation is one reading of a partition: its committed offset and lag.
type Observation struct {
	Committed int64
	Lag       int64
}

func h2lags(h []obs) []Observation {
	out := make([]Observation, len(h))
	for i, o := range h {
		out[i] = Observation{o.committed, o.lag}
	}
	return out
}

// Evaluate applies the Burrow-style rules to a window of observations,
// oldest first:
//  1. any zero lag in the window → OK;
//  2. committed offset unchanged over the window (at least two readings)
//     with positive lag → STALL when the group has members, STOP when not;
//  3. offsets advance but lag never decreases between readings → WARN;
//  4. otherwise OK.
//
// Burrow tells STOP from STALL by commit timestamps; the admin API does not
// return them, so Headroom uses group membership instead.
func Evaluate(w []Observation, hasMembers bool) Status {
	if len(w) == 0 {
		return StatusOK
	}
	for _, o := range w {
		if o.Lag == 0 {
			return StatusOK
		}
	}
	if len(w) < 2 {
		return StatusOK
	}
	if w[0].Committed == w[len(w)-1].Committed {
		if hasMembers {
			return StatusStall
		}
		return StatusStop
	}
	for i := 1; i < len(w); i++ {
		if w[i].Lag < w[i-1].Lag {
			return StatusOK
		}
	}
	return StatusWarn
}
