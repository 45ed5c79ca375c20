package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/headroomhq/headroom/api/wire"
	"github.com/headroomhq/headroom/config"
)

func problem(c *gin.Context, status int, title, detail string, fields ...wire.ProblemField) {
	c.Header("Content-Type", "application/problem+json")
	c.Status(status)
	_ = json.NewEncoder(c.Writer).Encode(Problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Errors: fields})
}

// answerList answers 200 with the views of items, [] (not null) for none.
func answerList[T, V any](c *gin.Context, items []T, view func(T) V) {
	out := make([]V, 0, len(items))
	for _, it := range items {
		out = append(out, view(it))
	}
	c.JSON(http.StatusOK, out)
}

// fieldErrors are the wire form of validation problems, each path under
// prefix ("spec." for a change inside a body).
func fieldErrors(fe []config.FieldError, prefix string) []wire.ProblemField {
	out := make([]wire.ProblemField, len(fe))
	for i, f := range fe {
		out[i] = wire.ProblemField{Path: strings.TrimPrefix(prefix+f.Path, "."), Message: f.Msg}
	}
	return out
}

// decodeJSON decodes the body strictly into v. On failure it has written
// the problem and returns false.
func decodeJSON(c *gin.Context, v any) bool {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			problem(c, http.StatusRequestEntityTooLarge, "request body too large", fmt.Sprintf("the limit is %d bytes", tooBig.Limit))
			return false
		}
		problem(c, http.StatusBadRequest, "invalid request body", err.Error())
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		problem(c, http.StatusBadRequest, "invalid request body", "", fieldOf(err, body))
		return false
	}
	if dec.More() {
		problem(c, http.StatusBadRequest, "invalid request body", "one JSON value expected")
		return false
	}
	return true
}

// fieldOf turns a JSON decoding error into a field error with a path.
func fieldOf(err error, body []byte) wire.ProblemField {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return wire.ProblemField{Path: te.Field, Message: fmt.Sprintf("must be %s, got %s", te.Type, te.Value)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		key := strings.Trim(f, `"`)
		var doc any
		if json.Unmarshal(body, &doc) == nil {
			if p := findKey(doc, key, ""); p != "" {
				key = p
			}
		}
		return wire.ProblemField{Path: key, Message: "unknown field"}
	}
	// A field's own decoder (rates) does not know its path: find the
	// value it rejected.
	var doc any
	if json.Unmarshal(body, &doc) == nil {
		if p := findRate(doc, ""); p != "" {
			return wire.ProblemField{Path: p, Message: msg}
		}
	}
	return wire.ProblemField{Path: "", Message: msg}
}

// findRate returns the path of the first rate field whose value does not
// parse.
func findRate(v any, path string) string {
	return findPath(v, path, func(key string, value any) bool {
		switch key {
		case "share", "floor", "ceiling", "pin":
			var r config.Rate
			b, _ := json.Marshal(value)
			return r.UnmarshalJSON(b) != nil
		}
		return false
	})
}

// findKey returns the path of the first object key named key.
func findKey(v any, key, path string) string {
	return findPath(v, path, func(k string, _ any) bool { return k == key })
}

// findPath walks a decoded JSON document depth first and returns the path
// ("produce.share") of the first object key for which match holds, or "".
func findPath(v any, path string, match func(key string, value any) bool) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	for k, child := range m {
		p := k
		if path != "" {
			p = path + "." + k
		}
		if match(k, child) {
			return p
		}
		if q := findPath(child, p, match); q != "" {
			return q
		}
	}
	return ""
}
