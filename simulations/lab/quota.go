package lab

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Quota keys Kafka accepts for user and client-id entities.
const (
	KeyProducerByteRate       = "producer_byte_rate"
	KeyConsumerByteRate       = "consumer_byte_rate"
	KeyRequestPercentage      = "request_percentage"
	KeyControllerMutationRate = "controller_mutation_rate"
	keyConnectionCreationRate = "connection_creation_rate"
)

// AnonymousUser is the principal Kafka gives an unauthenticated client. A
// project without a user is matched against user quotas as this user, as a
// broker without SASL does.
const AnonymousUser = "ANONYMOUS"

// integralKeys are the keys Kafka types as LONG/INT: their values must be
// whole numbers.
var integralKeys = map[string]bool{
	KeyProducerByteRate:       true,
	KeyConsumerByteRate:       true,
	keyConnectionCreationRate: true,
}

var clientKeys = map[string]bool{
	KeyProducerByteRate:       true,
	KeyConsumerByteRate:       true,
	KeyRequestPercentage:      true,
	KeyControllerMutationRate: true,
}

// entityPart is one component of a quota entity: absent, a name, or the
// default (<default>).
type entityPart struct {
	set  bool
	dflt bool
	name string
}

// quotaEntity is a user / client-id entity as stored by Kafka.
type quotaEntity struct {
	user, client entityPart
}

func (e quotaEntity) String() string {
	var parts []string
	for _, p := range []struct {
		typ string
		p   entityPart
	}{{"user", e.user}, {"client-id", e.client}} {
		if !p.p.set {
			continue
		}
		if p.p.dflt {
			parts = append(parts, p.typ+"=<default>")
		} else {
			parts = append(parts, p.typ+"="+p.p.name)
		}
	}
	return strings.Join(parts, ",")
}

// quotaTable mirrors the client quotas the cluster accepted, so that
// enforcement can resolve them on every request without a round trip.
type quotaTable struct {
	mu sync.RWMutex
	m  map[quotaEntity]map[string]float64
	// kinds has, per quota key, a bit for each kind of entity a quota of
	// that key was ever set or removed on (Kafka's quotaTypesEnabled,
	// which lasts until the broker restarts).
	kinds map[string]entityKinds
}

// entityKinds is a set of kinds of quota entity.
type entityKinds uint8

const (
	kindClient entityKinds = 1 << iota
	kindUser
	kindUserClient
)

func (e quotaEntity) kind() entityKinds {
	switch {
	case e.user.set && e.client.set:
		return kindUserClient
	case e.user.set:
		return kindUser
	default:
		return kindClient
	}
}

func newQuotaTable() *quotaTable {
	return &quotaTable{m: map[quotaEntity]map[string]float64{}, kinds: map[string]entityKinds{}}
}

// validateAlter checks every entry of an AlterClientQuotas request as Kafka
// does. It returns one error per entry (nil when the entry is valid) and the
// parsed entities. ip entities are validated but not enforced.
func validateAlter(req *kmsg.AlterClientQuotasRequest) ([]error, []quotaEntity, []bool) {
	errs := make([]error, len(req.Entries))
	ents := make([]quotaEntity, len(req.Entries))
	isIP := make([]bool, len(req.Entries))
	for i, entry := range req.Entries {
		e, ip, err := parseEntity(entry.Entity)
		if err != nil {
			errs[i] = err
			continue
		}
		ents[i], isIP[i] = e, ip
		for _, op := range entry.Ops {
			if err := validateOp(op, ip); err != nil {
				errs[i] = err
				break
			}
		}
	}
	return errs, ents, isIP
}

func parseEntity(es []kmsg.AlterClientQuotasRequestEntryEntity) (quotaEntity, bool, error) {
	var e quotaEntity
	if len(es) == 0 {
		return e, false, fmt.Errorf("invalid empty client quota entity")
	}
	seen := map[string]bool{}
	ip := false
	for _, c := range es {
		if seen[c.Type] {
			return e, false, fmt.Errorf("duplicate %s entity in client quota entity", c.Type)
		}
		seen[c.Type] = true
		p := entityPart{set: true}
		if c.Name == nil {
			p.dflt = true
		} else {
			p.name = *c.Name
		}
		switch c.Type {
		case "user":
			e.user = p
		case "client-id":
			e.client = p
		case "ip":
			ip = true
		default:
			return e, false, fmt.Errorf("unhandled client quota entity type: %s", c.Type)
		}
	}
	if ip && len(es) > 1 {
		return e, false, fmt.Errorf("invalid quota entity combination: ip cannot be combined with user or client-id")
	}
	return e, ip, nil
}

func validateOp(op kmsg.AlterClientQuotasRequestEntryOp, ip bool) error {
	if ip {
		if op.Key != keyConnectionCreationRate {
			return fmt.Errorf("invalid configuration key %s", op.Key)
		}
	} else if !clientKeys[op.Key] {
		return fmt.Errorf("invalid configuration key %s", op.Key)
	}
	if op.Remove {
		return nil
	}
	v := op.Value
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("proposed value for %s is not a finite number: %v", op.Key, v)
	}
	if v <= 0 {
		return fmt.Errorf("quota %s must be greater than 0, got %v", op.Key, v)
	}
	if integralKeys[op.Key] {
		if v > math.MaxInt64 {
			return fmt.Errorf("proposed value for %s is too large for a LONG", op.Key)
		}
		if v != math.Floor(v) {
			return fmt.Errorf("proposed value for %s must be an integer, got %v", op.Key, v)
		}
	}
	return nil
}

// rejectAlter answers a request with at least one invalid entry: the
// invalid entries get Kafka's INVALID_REQUEST with the reason, and so do the
// valid ones ("not applied"), so that nothing changes. (Kafka would apply the
// valid entries of such a request; the lab cannot apply part of a request to
// kfake's store from a control hook.)
func rejectAlter(req *kmsg.AlterClientQuotasRequest, errs []error) *kmsg.AlterClientQuotasResponse {
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	bad := -1
	for i, err := range errs {
		if err != nil {
			bad = i
			break
		}
	}
	for i, entry := range req.Entries {
		re := kmsg.NewAlterClientQuotasResponseEntry()
		re.ErrorCode = kerr.InvalidRequest.Code
		if errs[i] != nil {
			re.ErrorMessage = kmsg.StringPtr(errs[i].Error())
		} else {
			re.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("not applied: entry %d of the same request is invalid", bad))
		}
		for _, e := range entry.Entity {
			ee := kmsg.NewAlterClientQuotasResponseEntryEntity()
			ee.Type, ee.Name = e.Type, e.Name
			re.Entity = append(re.Entity, ee)
		}
		resp.Entries = append(resp.Entries, re)
	}
	return resp
}

// apply applies validated entries (the same set/remove semantics kfake
// stores).
func (t *quotaTable) apply(req *kmsg.AlterClientQuotasRequest, ents []quotaEntity, isIP []bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, entry := range req.Entries {
		if isIP[i] {
			continue
		}
		vals := t.m[ents[i]]
		if vals == nil {
			vals = map[string]float64{}
		}
		for _, op := range entry.Ops {
			t.kinds[op.Key] |= ents[i].kind()
			if op.Remove {
				delete(vals, op.Key)
			} else {
				vals[op.Key] = op.Value
			}
		}
		if len(vals) == 0 {
			delete(t.m, ents[i])
		} else {
			t.m[ents[i]] = vals
		}
	}
}

// resolved is the quota that applies to a client, and the metric tags Kafka
// gives its sensors (they follow the level that matched).
type resolved struct {
	bound float64
	tags  sensorTags
}

// sensorTags are the user and client-id tags of a quota sensor; empty means
// the tag is absent.
type sensorTags struct {
	user, clientID string
}

// resolve finds the quota for key that applies to (user, clientID) with
// Kafka's precedence:
//
//	user+client-id, user+<default client>, user,
//	<default user>+client-id, <default user>+<default client>, <default user>,
//	client-id, <default client>.
func (t *quotaTable) resolve(user, clientID, key string) (resolved, bool) {
	if user == "" {
		user = AnonymousUser
	}
	name := func(n string) entityPart { return entityPart{set: true, name: n} }
	dflt := entityPart{set: true, dflt: true}
	none := entityPart{}
	both := sensorTags{user: user, clientID: clientID}
	levels := []struct {
		e    quotaEntity
		tags sensorTags
	}{
		{quotaEntity{name(user), name(clientID)}, both},
		{quotaEntity{name(user), dflt}, both},
		{quotaEntity{name(user), none}, sensorTags{user: user}},
		{quotaEntity{dflt, name(clientID)}, both},
		{quotaEntity{dflt, dflt}, both},
		{quotaEntity{dflt, none}, sensorTags{user: user}},
		{quotaEntity{none, name(clientID)}, sensorTags{clientID: clientID}},
		{quotaEntity{none, dflt}, sensorTags{clientID: clientID}},
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, l := range levels {
		if v, ok := t.m[l.e][key]; ok {
			return resolved{bound: v, tags: l.tags}, true
		}
	}
	return resolved{}, false
}

// unquotedTags reports whether Kafka records the bytes of a client that no
// quota of key applies to, and the tags of the sensor it records them in.
// Kafka's quota manager for a key records every client once a quota of
// that key has been set or removed since the broker started, each client
// in a sensor of its own with an unlimited bound; the tags follow the
// kinds of entity those quotas were on: client-id only gives the client
// id, user only the user, user+client-id only both, and a mix the client
// id (the last level of Kafka's lookup, where a client no level matches
// ends).
func (t *quotaTable) unquotedTags(user, clientID, key string) (sensorTags, bool) {
	if user == "" {
		user = AnonymousUser
	}
	t.mu.RLock()
	kinds := t.kinds[key]
	t.mu.RUnlock()
	switch kinds {
	case 0:
		return sensorTags{}, false
	case kindUser:
		return sensorTags{user: user}, true
	case kindUserClient:
		return sensorTags{user: user, clientID: clientID}, true
	default:
		return sensorTags{clientID: clientID}, true
	}
}

// snapshot lists the stored quotas, sorted, for logs and tests.
func (t *quotaTable) snapshot() map[string]map[string]float64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string]map[string]float64{}
	keys := make([]quotaEntity, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		vals := map[string]float64{}
		for kk, v := range t.m[k] {
			vals[kk] = v
		}
		out[k.String()] = vals
	}
	return out
}
