package config

import (
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDirectionText(t *testing.T) {
	for _, tc := range []struct {
		d    Direction
		want string
	}{{Produce, "produce"}, {Fetch, "fetch"}} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.d.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			got, err := ParseDirection(tc.want)
			if err != nil || got != tc.d {
				t.Errorf("ParseDirection(%q) = %v, %v; want %v", tc.want, got, err, tc.d)
			}
			b, err := json.Marshal(struct {
				D Direction          `json:"d"`
				M map[Direction]bool `json:"m"`
			}{tc.d, map[Direction]bool{tc.d: true}})
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"d":"` + tc.want + `","m":{"` + tc.want + `":true}}`; string(b) != want {
				t.Errorf("JSON %s, want %s", b, want)
			}
			y, err := yaml.Marshal(struct {
				D Direction `yaml:"d"`
			}{tc.d})
			if err != nil {
				t.Fatal(err)
			}
			if want := "d: " + tc.want + "\n"; string(y) != want {
				t.Errorf("YAML %q, want %q", y, want)
			}
		})
	}
}

// The directions index [2] arrays: produce first, fetch second.
func TestDirectionIndexes(t *testing.T) {
	if Produce != 0 || Fetch != 1 {
		t.Fatalf("Produce = %d, Fetch = %d; want 0 and 1", Produce, Fetch)
	}
	if Directions != [2]Direction{Produce, Fetch} {
		t.Fatalf("Directions = %v, want [produce fetch]", Directions)
	}
}

func TestDirectionDecode(t *testing.T) {
	for _, tc := range []struct {
		name, json, yaml string
		want             Direction
		err              string // in both errors, or "" when both decode
	}{
		{name: "produce", json: `{"d":"produce"}`, yaml: "d: produce\n", want: Produce},
		{name: "fetch", json: `{"d":"fetch"}`, yaml: "d: fetch\n", want: Fetch},
		{name: "kafka's spelling", json: `{"d":"Produce"}`, yaml: "d: Produce\n", err: `invalid direction "Produce": want produce or fetch`},
		{name: "consume", json: `{"d":"consume"}`, yaml: "d: consume\n", err: `invalid direction "consume": want produce or fetch`},
		{name: "empty", json: `{"d":""}`, yaml: "d: \"\"\n", err: `invalid direction "": want produce or fetch`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j struct {
				D Direction `json:"d"`
			}
			var y struct {
				D Direction `yaml:"d"`
			}
			jerr := json.Unmarshal([]byte(tc.json), &j)
			yerr := yaml.Unmarshal([]byte(tc.yaml), &y)
			if tc.err == "" {
				if jerr != nil || yerr != nil {
					t.Fatalf("errors %v, %v", jerr, yerr)
				}
				if j.D != tc.want || y.D != tc.want {
					t.Fatalf("decoded %v (JSON), %v (YAML), want %v", j.D, y.D, tc.want)
				}
				return
			}
			if jerr == nil || !strings.Contains(jerr.Error(), tc.err) {
				t.Errorf("JSON error %v, want one containing %q", jerr, tc.err)
			}
			if yerr == nil || !strings.Contains(yerr.Error(), "line 1: "+tc.err) {
				t.Errorf("YAML error %v, want one containing %q", yerr, "line 1: "+tc.err)
			}
		})
	}
	t.Run("not a scalar", func(t *testing.T) {
		var y struct {
			D Direction `yaml:"d"`
		}
		err := yaml.Unmarshal([]byte("d:\n  - produce\n"), &y)
		if err == nil || !strings.Contains(err.Error(), "line 2: a direction must be produce or fetch") {
			t.Fatalf("error %v, want one naming line 2", err)
		}
	})
}

func TestDirectionOutOfRange(t *testing.T) {
	d := Direction(2)
	if got := d.String(); got != "direction(2)" {
		t.Errorf("String() = %q, want direction(2)", got)
	}
	if _, err := json.Marshal(d); err == nil || !strings.Contains(err.Error(), "invalid direction 2") {
		t.Errorf("JSON error %v, want one naming direction 2", err)
	}
}

func TestEntityString(t *testing.T) {
	for _, tc := range []struct {
		e    Entity
		want string
	}{
		{Entity{User: "alice"}, "user=alice"},
		{Entity{ClientID: "app"}, "client-id=app"},
		{Entity{User: "alice", ClientID: "app"}, "user=alice,client-id=app"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.e.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

// A snapshot and a configuration spell the entity's parts the same way.
func TestEntityWire(t *testing.T) {
	e := Entity{User: "alice", ClientID: "app"}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"user":"alice","client_id":"app"}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	if b, _ := json.Marshal(Entity{ClientID: "app"}); string(b) != `{"client_id":"app"}` {
		t.Errorf("JSON %s, want the empty user left out", b)
	}
	var y Entity
	if err := yaml.Unmarshal([]byte("user: alice\nclient_id: app\n"), &y); err != nil || y != e {
		t.Errorf("YAML decoded %+v, %v; want %+v", y, err, e)
	}
}
