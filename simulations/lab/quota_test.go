package lab

import (
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func alterReq(entries ...kmsg.AlterClientQuotasRequestEntry) *kmsg.AlterClientQuotasRequest {
	r := kmsg.NewPtrAlterClientQuotasRequest()
	r.Entries = entries
	return r
}

func entry(key string, value float64, parts ...[2]*string) kmsg.AlterClientQuotasRequestEntry {
	e := kmsg.NewAlterClientQuotasRequestEntry()
	for _, p := range parts {
		c := kmsg.NewAlterClientQuotasRequestEntryEntity()
		c.Type, c.Name = *p[0], p[1]
		e.Entity = append(e.Entity, c)
	}
	op := kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key, op.Value = key, value
	e.Ops = append(e.Ops, op)
	return e
}

func sp(s string) *string { return &s }

var (
	user   = func(n *string) [2]*string { return [2]*string{sp("user"), n} }
	client = func(n *string) [2]*string { return [2]*string{sp("client-id"), n} }
)

// TestResolvePrecedence walks Kafka's eight quota levels: each case adds
// one more specific level, which must win, with the sensor tags of that
// level.
func TestResolvePrecedence(t *testing.T) {
	steps := []struct {
		name  string
		entry kmsg.AlterClientQuotasRequestEntry
		tags  sensorTags
	}{
		{"default client-id", entry(KeyProducerByteRate, 8, client(nil)), sensorTags{clientID: "c"}},
		{"client-id", entry(KeyProducerByteRate, 7, client(sp("c"))), sensorTags{clientID: "c"}},
		{"default user", entry(KeyProducerByteRate, 6, user(nil)), sensorTags{user: "u"}},
		{"default user + default client-id", entry(KeyProducerByteRate, 5, user(nil), client(nil)), sensorTags{user: "u", clientID: "c"}},
		{"default user + client-id", entry(KeyProducerByteRate, 4, user(nil), client(sp("c"))), sensorTags{user: "u", clientID: "c"}},
		{"user", entry(KeyProducerByteRate, 3, user(sp("u"))), sensorTags{user: "u"}},
		{"user + default client-id", entry(KeyProducerByteRate, 2, user(sp("u")), client(nil)), sensorTags{user: "u", clientID: "c"}},
		{"user + client-id", entry(KeyProducerByteRate, 1, user(sp("u")), client(sp("c"))), sensorTags{user: "u", clientID: "c"}},
	}
	tbl := newQuotaTable()
	if _, ok := tbl.resolve("u", "c", KeyProducerByteRate); ok {
		t.Fatal("empty table resolved a quota")
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			req := alterReq(s.entry)
			errs, ents, ip := validateAlter(req)
			if errs[0] != nil {
				t.Fatalf("valid entry rejected: %v", errs[0])
			}
			tbl.apply(req, ents, ip)
			got, ok := tbl.resolve("u", "c", KeyProducerByteRate)
			if !ok || got.bound != s.entry.Ops[0].Value || got.tags != s.tags {
				t.Errorf("resolved %+v (ok %v), want bound %v tags %+v", got, ok, s.entry.Ops[0].Value, s.tags)
			}
			if _, ok := tbl.resolve("u", "c", KeyConsumerByteRate); ok {
				t.Errorf("a produce quota resolved for fetch")
			}
		})
	}
	t.Run("a user without a name is ANONYMOUS", func(t *testing.T) {
		got, ok := tbl.resolve("", "other", KeyProducerByteRate)
		if !ok || got.bound != 5 || got.tags != (sensorTags{user: AnonymousUser, clientID: "other"}) {
			t.Errorf("resolved %+v, want <default> user + <default> client-id, tagged ANONYMOUS/other", got)
		}
	})
	t.Run("remove falls back to the next level", func(t *testing.T) {
		e := entry(KeyProducerByteRate, 0, user(sp("u")), client(sp("c")))
		e.Ops[0].Remove = true
		req := alterReq(e)
		errs, ents, ip := validateAlter(req)
		if errs[0] != nil {
			t.Fatal(errs[0])
		}
		tbl.apply(req, ents, ip)
		if got, _ := tbl.resolve("u", "c", KeyProducerByteRate); got.bound != 2 {
			t.Errorf("after remove resolved %v, want 2", got.bound)
		}
	})
}

func TestValidateAlter(t *testing.T) {
	cases := []struct {
		name  string
		entry kmsg.AlterClientQuotasRequestEntry
		ok    bool
	}{
		{"producer rate", entry(KeyProducerByteRate, 1e6, client(sp("c"))), true},
		{"request percentage may be fractional", entry(KeyRequestPercentage, 12.5, user(sp("u"))), true},
		{"ip connection rate", entry("connection_creation_rate", 10, [2]*string{sp("ip"), nil}), true},
		{"negative", entry(KeyProducerByteRate, -1, client(sp("c"))), false},
		{"zero", entry(KeyConsumerByteRate, 0, client(sp("c"))), false},
		{"fractional byte rate", entry(KeyConsumerByteRate, 0.5, client(sp("c"))), false},
		{"infinite", entry(KeyConsumerByteRate, math.Inf(1), client(sp("c"))), false},
		{"unknown key", entry("producer_byte_rat", 10, client(sp("c"))), false},
		{"client key on ip", entry(KeyProducerByteRate, 10, [2]*string{sp("ip"), nil}), false},
		{"empty entity", entry(KeyProducerByteRate, 10), false},
		{"duplicate type", entry(KeyProducerByteRate, 10, client(sp("a")), client(sp("b"))), false},
		{"unknown type", entry(KeyProducerByteRate, 10, [2]*string{sp("group"), sp("g")}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs, _, _ := validateAlter(alterReq(tc.entry))
			if (errs[0] == nil) != tc.ok {
				t.Errorf("error %v, want ok=%v", errs[0], tc.ok)
			}
		})
	}
}

func TestRejectAlterAnswersEveryEntry(t *testing.T) {
	req := alterReq(entry(KeyProducerByteRate, 10, client(sp("a"))), entry(KeyProducerByteRate, -1, client(sp("b"))))
	errs, _, _ := validateAlter(req)
	resp := rejectAlter(req, errs)
	if len(resp.Entries) != 2 {
		t.Fatalf("%d entries, want 2", len(resp.Entries))
	}
	for i, e := range resp.Entries {
		if e.ErrorCode != 42 || e.ErrorMessage == nil || len(e.Entity) != 1 {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
}

// TestUnquotedTagsFollowKafka: which kinds of entity carried a quota of a
// key decides whether an unquoted client is recorded and under which tags;
// a removed quota keeps its kind in force, as Kafka's quotaTypesEnabled
// does until the broker restarts.
func TestUnquotedTagsFollowKafka(t *testing.T) {
	remove := func(e kmsg.AlterClientQuotasRequestEntry) kmsg.AlterClientQuotasRequestEntry {
		e.Ops[0].Remove = true
		return e
	}
	for _, tc := range []struct {
		name    string
		entries []kmsg.AlterClientQuotasRequestEntry
		tags    sensorTags
		on      bool
	}{
		{"nothing set", nil, sensorTags{}, false},
		{"fetch quotas only", []kmsg.AlterClientQuotasRequestEntry{entry(KeyConsumerByteRate, 9, client(sp("a")))}, sensorTags{}, false},
		{"client-id", []kmsg.AlterClientQuotasRequestEntry{entry(KeyProducerByteRate, 9, client(sp("a")))}, sensorTags{clientID: "m"}, true},
		{"user", []kmsg.AlterClientQuotasRequestEntry{entry(KeyProducerByteRate, 9, user(sp("u")))}, sensorTags{user: AnonymousUser}, true},
		{"default user + client-id", []kmsg.AlterClientQuotasRequestEntry{entry(KeyProducerByteRate, 9, user(nil), client(sp("a")))},
			sensorTags{user: AnonymousUser, clientID: "m"}, true},
		{"user and user + client-id", []kmsg.AlterClientQuotasRequestEntry{entry(KeyProducerByteRate, 9, user(sp("u"))),
			entry(KeyProducerByteRate, 9, user(sp("u")), client(sp("a")))}, sensorTags{clientID: "m"}, true},
		{"set, then removed", []kmsg.AlterClientQuotasRequestEntry{entry(KeyProducerByteRate, 9, client(sp("a"))),
			remove(entry(KeyProducerByteRate, 0, client(sp("a"))))}, sensorTags{clientID: "m"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := newQuotaTable()
			for _, e := range tc.entries {
				req := alterReq(e)
				errs, ents, ip := validateAlter(req)
				if errs[0] != nil {
					t.Fatal(errs[0])
				}
				tbl.apply(req, ents, ip)
			}
			if _, ok := tbl.resolve("", "m", KeyProducerByteRate); ok {
				t.Fatal("client m resolved a quota; the case must leave it unquoted")
			}
			tags, on := tbl.unquotedTags("", "m", KeyProducerByteRate)
			if tags != tc.tags || on != tc.on {
				t.Errorf("unquoted client m: tags %+v recorded %v, want %+v %v", tags, on, tc.tags, tc.on)
			}
		})
	}
}
