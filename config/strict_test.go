package config

import (
	"errors"
	"slices"
	"testing"
)

// strictDoc is a small document type for DecodeStrict's own tests: a struct,
// a list of structs, an integer-keyed map and a self-decoding scalar.
type strictDoc struct {
	Name  string            `yaml:"name"`
	Items []strictItem      `yaml:"items"`
	Skew  map[int]float64   `yaml:"skew"`
	Tags  map[string]string `yaml:"tags"`
	Rate  Rate              `yaml:"rate"`
}

type strictItem struct {
	ID   int    `yaml:"id"`
	Note string `yaml:"note"`
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // every FieldError, as printed
		partial bool
	}{
		{"good", "name: a\nitems: [{id: 1}]\nskew: {2: 1.5}\nrate: 1MiB/s\n", nil, false},
		{"unknown key in a list item", "name: a\nitems:\n  - id: 1\n    nope: 2\n",
			[]string{`items[0].nope: unknown field "nope" (line 4)`}, false},
		{"an integer key is an index", "skew: {1: 2, 3: lots}\n",
			[]string{"skew[3]: cannot unmarshal !!str `lots` into float64 (line 1)"}, false},
		{"a string key is a field", "tags:\n  a: x\n  a: y\n",
			[]string{"tags.a: duplicate key (line 3)"}, true},
		{"duplicate field", "name: a\nname: b\n", []string{"name: duplicate field (line 2)"}, true},
		{"a self-decoding value keeps its path", "items: [{id: 1, note: x}]\nrate: {a: 1}\n",
			[]string{"rate: a rate must be a scalar such as 50MiB/s (line 2)"}, false},
		{"the quoted value picks the field on a shared line", "items: [{id: x, note: y}]\n",
			[]string{"items[0].id: cannot unmarshal !!str `x` into int (line 1)"}, false},
		{"second document, at its ---", "name: a\n---\nname: b\n",
			[]string{"line 2: more than one YAML document; a test file holds one"}, true},
		{"syntax error", "name: [a\n", []string{"line 1: did not find expected ',' or ']'"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d strictDoc
			partial, err := DecodeStrict([]byte(tt.in), &d, "test")
			var got []string
			var errs Errors
			if err != nil && !errors.As(err, &errs) {
				t.Fatalf("error %v is not Errors", err)
			}
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("errors differ\n got: %q\nwant: %q", got, tt.want)
			}
			if err != nil && partial != tt.partial {
				t.Errorf("partial %v, want %v", partial, tt.partial)
			}
		})
	}
}

func TestDecodeStrictEmpty(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n"} {
		var d strictDoc
		if _, err := DecodeStrict([]byte(in), &d, "test"); !errors.Is(err, ErrNoDocument) {
			t.Errorf("%q: err %v, want ErrNoDocument", in, err)
		}
	}
}
