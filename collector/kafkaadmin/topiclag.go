package kafkaadmin

// TopicLag is one consumer group's lag on one topic: the partitions' lag
// summed and their worst status.
type TopicLag struct {
	Group  string `json:"group"`
	Topic  string `json:"topic"`
	Lag    int64  `json:"lag"`
	Status Status `json:"status"`
}

// Worse reports whether a is a worse status than b (OK < WARN < STALL <
// STOP < ERR).
func Worse(a, b Status) bool { return rank(a) > rank(b) }

// ByTopic folds the groups' per-partition lag into one TopicLag per group
// and topic, in the order they first appear. Groups whose window is not yet
// complete are left out: their status is provisional.
func ByTopic(lags []GroupLag) []TopicLag {
	type key struct{ group, topic string }
	index := map[key]int{}
	var out []TopicLag
	for _, g := range lags {
		if !g.Complete {
			continue
		}
		for _, p := range g.Partitions {
			k := key{g.Group, p.Topic}
			i, ok := index[k]
			if !ok {
				i = len(out)
				index[k] = i
				out = append(out, TopicLag{Group: g.Group, Topic: p.Topic, Status: StatusOK})
			}
			out[i].Lag += p.Lag
			if Worse(p.Status, out[i].Status) {
				out[i].Status = p.Status
			}
		}
	}
	return out
}
