package scenario

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlPaths maps YAML lines to the paths of the fields on them, so that a
// decoder message such as "line 4: field burst not found in type
// scenario.Quota" can name projects[0].produce.burst.
type yamlPaths struct {
	keys   map[lineKey]string  // mapping keys by line and name
	values map[int][]pathValue // scalar values on each line, in order
}

type pathValue struct{ path, value string }

type lineKey struct {
	line int
	name string
}

func indexPaths(b []byte) *yamlPaths {
	var root yaml.Node
	p := &yamlPaths{keys: map[lineKey]string{}, values: map[int][]pathValue{}}
	if err := yaml.Unmarshal(b, &root); err != nil {
		return p
	}
	p.walk(&root, "")
	return p
}

func (p *yamlPaths) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			p.walk(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := k.Value
			if _, err := strconv.Atoi(k.Value); err == nil && path != "" {
				child = path + "[" + k.Value + "]"
			} else if path != "" {
				child = path + "." + k.Value
			}
			if _, ok := p.keys[lineKey{k.Line, k.Value}]; !ok {
				p.keys[lineKey{k.Line, k.Value}] = child
			}
			p.walk(v, child)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.walk(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.ScalarNode:
		if path != "" {
			p.values[n.Line] = append(p.values[n.Line], pathValue{path, n.Value})
		}
	}
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	lineMessage  = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// explain rewrites a decoder error so that each of its messages starts with
// the path of the field it is about.
func (p *yamlPaths) explain(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var errs []error
	for _, msg := range te.Errors {
		if m := unknownField.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			if path, ok := p.keys[lineKey{line, m[2]}]; ok {
				errs = append(errs, fmt.Errorf("%s: unknown field (line %d)", path, line))
				continue
			}
		}
		if m := lineMessage.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			// Several values may share a line in a flow mapping: prefer
			// the one the message quotes.
			if vs := p.values[line]; len(vs) > 0 {
				path := vs[0].path
				for _, v := range vs {
					if v.value != "" && strings.Contains(m[2], strconv.Quote(v.value)) {
						path = v.path
						break
					}
				}
				errs = append(errs, fmt.Errorf("%s: %s (line %d)", path, m[2], line))
				continue
			}
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}
