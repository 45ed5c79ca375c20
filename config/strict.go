package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem found in a configuration-like input (the
// configuration file, a scenario file, an override), located by its YAML
// path (for example "projects[2].produce.floor") and, where known, line.
type FieldError struct {
	Path string
	Line int
	Msg  string
}

func (e FieldError) Error() string {
	switch {
	case e.Path != "" && e.Line > 0:
		return fmt.Sprintf("%s: %s (line %d)", e.Path, e.Msg, e.Line)
	case e.Path != "":
		return fmt.Sprintf("%s: %s", e.Path, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Errors is the list of every problem found in one file.
type Errors []FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// hasDuplicateAt reports whether a duplicate key at line is listed.
func (es Errors) hasDuplicateAt(line int) bool {
	for _, e := range es {
		if e.Line == line && line > 0 && (e.Msg == msgDuplicateField || e.Msg == msgDuplicateKey) {
			return true
		}
	}
	return false
}

// hasDuplicate reports whether a duplicate key is listed.
func (es Errors) hasDuplicate() bool {
	for _, e := range es {
		if e.Msg == msgDuplicateField || e.Msg == msgDuplicateKey {
			return true
		}
	}
	return false
}

// ErrNoDocument is DecodeStrict's answer to input that holds no YAML
// document (empty, or comments only).
var ErrNoDocument = errors.New("no YAML document")

// DecodeStrict decodes the one YAML document in b into v, a pointer to the
// Go type the document describes. It is strict: unknown keys, duplicate
// keys and a second document are errors. It returns nil, ErrNoDocument, or
// Errors listing every problem found, each located by its field's YAML path
// and line. kind names the file in the message about a second document
// ("a config file holds one").
//
// partial reports that the decoder stopped early or dropped a mapping (on
// a duplicate key), so v's values are incomplete and validating them would
// only add noise. After other errors (unknown keys, a value the decoder
// rejected) v holds every other value.
func DecodeStrict(b []byte, v any, kind string) (partial bool, err error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return true, ErrNoDocument
		}
		return true, decodeErrors(err, newPositions())
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return true, Errors{{Line: extra.Line, Msg: fmt.Sprintf("more than one YAML document; a %s file holds one", kind)}}
	}
	var errs Errors
	lines := newPositions()
	checkFields(&root, reflect.TypeOf(v), "", lines, &errs)
	if err := root.Decode(v); err != nil {
		// Messages on a line checkFields has already reported (duplicate
		// keys) would only repeat it.
		for _, de := range decodeErrors(err, lines) {
			if !errs.hasDuplicateAt(de.Line) {
				errs = append(errs, de)
			}
		}
		var te *yaml.TypeError
		partial = !errors.As(err, &te) || errs.hasDuplicate()
	}
	if len(errs) > 0 {
		return partial, errs
	}
	return false, nil
}

const (
	msgDuplicateField = "duplicate field"
	msgDuplicateKey   = "duplicate key"
)

var (
	unmarshalerType   = reflect.TypeFor[yaml.Unmarshaler]()
	mappingFieldsType = reflect.TypeFor[mappingFields]()
)

// checkFields walks the YAML tree next to the Go type it will be decoded
// into. It reports unknown and duplicate keys with their paths, and records
// the path of every line so that decoder errors, which only know lines, can
// be reported by path too.
func checkFields(n *yaml.Node, t reflect.Type, path string, lines *positions, errs *Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkFields(c, t, path, lines, errs)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		return
	}
	if _, ok := lines.byLine[n.Line]; !ok || path != "" {
		lines.byLine[n.Line] = path
	}
	if n.Kind == yaml.ScalarNode {
		lines.byValue[valueKey{n.Line, n.Value}] = path
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		// A type that decodes itself is opaque, unless it is a scalar-or-
		// mapping one given a mapping: those keys are checked like a
		// struct's.
		if !reflect.PointerTo(t).Implements(mappingFieldsType) || n.Kind != yaml.MappingNode {
			return
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			lines.byLine[k.Line] = p
			if k.Value == "<<" {
				continue
			}
			if seen[k.Value] {
				*errs = append(*errs, FieldError{Path: p, Line: k.Line, Msg: msgDuplicateField})
				continue
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, FieldError{Path: p, Line: k.Line, Msg: fmt.Sprintf("unknown field %q", k.Value)})
				continue
			}
			checkFields(v, ft, p, lines, errs)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkFields(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines, errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			if isInteger(t.Key()) {
				// An integer key is an index (a broker's id): brokers.skew[3].
				p = fmt.Sprintf("%s[%s]", path, k.Value)
			}
			lines.byLine[k.Line] = p
			if seen[k.Value] {
				*errs = append(*errs, FieldError{Path: p, Line: k.Line, Msg: msgDuplicateKey})
			}
			seen[k.Value] = true
			checkFields(v, t.Elem(), p, lines, errs)
		}
	}
}

// yamlFields maps the YAML keys of a struct type to their field types,
// following inline fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func isInteger(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// positions maps source positions to YAML paths, so that the decoder's
// line-based messages can name the field. Several fields can share a line
// (flow mappings such as {produce: 1MiB/s, fetch: x}); the offending value,
// quoted in the decoder's message, then tells them apart.
type positions struct {
	byLine  map[int]string
	byValue map[valueKey]string
}

type valueKey struct {
	line  int
	value string
}

func newPositions() *positions {
	return &positions{byLine: map[int]string{}, byValue: map[valueKey]string{}}
}

var quotedRe = regexp.MustCompile("[\"`]([^\"`]*)[\"`]")

func (p *positions) path(line int, msg string) string {
	for _, m := range quotedRe.FindAllStringSubmatch(msg, -1) {
		if path, ok := p.byValue[valueKey{line, m[1]}]; ok {
			return path
		}
	}
	return p.byLine[line]
}

var lineRe = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeErrors turns the decoder's line-based messages into FieldErrors with
// paths.
func decodeErrors(err error, lines *positions) Errors {
	var out Errors
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		if sub := lineRe.FindStringSubmatch(m); sub != nil {
			line, _ := strconv.Atoi(sub[1])
			out = append(out, FieldError{Path: lines.path(line, sub[2]), Line: line, Msg: sub[2]})
			continue
		}
		out = append(out, FieldError{Msg: m})
	}
	return out
}
