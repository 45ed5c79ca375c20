package api

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

var ginParam = regexp.MustCompile(`:([a-z]+)`)

// openAPIPath turns /a/:b into /a/{b}.
func openAPIPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

// Document builds the OpenAPI 3 document from the route table.
func (a *API) Document() map[string]any {
	paths := map[string]map[string]any{}
	for _, r := range a.routes() {
		op := map[string]any{
			"summary":     r.summary,
			"operationId": strings.ToLower(r.method) + strings.NewReplacer("/api/v1", "", "/", "_", ":", "", ".", "_").Replace(r.path),
		}
		var params []map[string]any
		for _, m := range ginParam.FindAllStringSubmatch(r.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range r.query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": map[string]any{"type": "string"}})
		}
		if r.method == "PUT" || r.method == "DELETE" {
			params = append(params, map[string]any{"name": "If-Match", "in": "header", "required": r.method == "DELETE", "schema": map[string]any{"type": "string"}})
		}
		if r.role != "" {
			params = append(params, map[string]any{"name": UserHeader, "in": "header", "required": false,
				"description": "the login of the person a proxy token (proxy: true) acts for; audited next to the token's name; refused (403) from any other token",
				"schema":      map[string]any{"type": "string", "maxLength": 256}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if r.body != "" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + r.body}}}}
		}
		problemRef := map[string]any{"content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
		responses := map[string]any{}
		okResp := map[string]any{"description": "success"}
		if r.ok != http.StatusNoContent {
			schema := map[string]any{}
			if r.resp != "" {
				schema["$ref"] = "#/components/schemas/" + r.resp
			}
			okResp["content"] = map[string]any{"application/json": map[string]any{"schema": schema}}
		}
		responses[itoa(r.ok)] = okResp
		withDesc := func(desc string) map[string]any {
			m := map[string]any{"description": desc}
			for k, v := range problemRef {
				m[k] = v
			}
			return m
		}
		responses["429"] = withDesc("rate limited")
		if r.role != "" {
			op["security"] = []map[string]any{{"bearer": []string{}}}
			op["x-headroom-role"] = r.role
			responses["401"] = withDesc("missing, unknown or expired token")
			responses["403"] = withDesc("role not allowed")
			responses["400"] = withDesc("invalid input")
			responses["404"] = withDesc("not found")
		}
		if r.body != "" {
			responses["413"] = withDesc("body too large")
			responses["422"] = withDesc("validation failed")
		}
		if r.method == "PUT" || r.method == "DELETE" {
			responses["412"] = withDesc("the resource changed since it was read")
			responses["428"] = withDesc("If-Match required")
		}
		op["responses"] = responses
		p := openAPIPath(r.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(r.method)] = op
	}
	rate := map[string]any{"oneOf": []any{
		map[string]any{"type": "number", "minimum": 0, "description": "bytes/s per broker"},
		map[string]any{"type": "string", "example": "50MiB/s"},
	}}
	quota := map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
		"share": rate, "floor": rate, "ceiling": rate, "pin": rate, "weight": map[string]any{"type": "number", "exclusiveMinimum": 0},
	}}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "Headroom quota tuning API", "version": "v1"},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas": map[string]any{
				"Problem": map[string]any{"type": "object", "properties": map[string]any{
					"type": map[string]any{"type": "string"}, "title": map[string]any{"type": "string"},
					"status": map[string]any{"type": "integer"}, "detail": map[string]any{"type": "string"},
					"errors": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
						"path": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}}}},
				}},
				"OverrideSpec": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
					"produce": quota, "fetch": quota,
					"freeze":     map[string]any{"type": "boolean"},
					"margin":     map[string]any{"type": "number", "exclusiveMinimum": 0, "maximum": 1},
					"expires_at": map[string]any{"type": "string", "format": "date-time"},
					"reason":     map[string]any{"type": "string"},
				}},
				"WhatIf": map[string]any{"type": "object", "required": []string{"kind", "name", "spec"}, "additionalProperties": false,
					"properties": map[string]any{
						"kind": map[string]any{"type": "string", "enum": []string{"project", "group"}}, "name": map[string]any{"type": "string"},
						"spec":   map[string]any{"$ref": "#/components/schemas/OverrideSpec"},
						"window": map[string]any{"type": "string", "example": "6h"},
					}},
				"Signals": map[string]any{"type": "array", "items": map[string]any{"type": "object",
					"required": []string{"at", "project", "direction", "rate", "expected", "upper", "score", "state"},
					"properties": map[string]any{
						"at": map[string]any{"type": "string", "format": "date-time"}, "project": map[string]any{"type": "string"},
						"direction": map[string]any{"type": "string", "enum": []string{"produce", "fetch"}},
						"rate":      nullableRate("the rate seen, bytes/s per broker"),
						"expected":  nullableRate("the baseline: the rate forecast one horizon ahead"),
						"upper":     nullableRate("the forecast's upper bound, which the limiter takes as demand"),
						"score":     map[string]any{"type": "number", "nullable": true, "minimum": 0, "maximum": 1, "description": "anomaly score"},
						"state":     map[string]any{"type": "string", "description": "the detector's shift state"},
					}}},
				"Damage": map[string]any{"type": "object", "required": []string{"from", "to", "projects", "total", "avoided_ratio"},
					"properties": map[string]any{
						"from": map[string]any{"type": "string", "format": "date-time"}, "to": map[string]any{"type": "string", "format": "date-time"},
						"projects":      map[string]any{"type": "array", "items": damageView()},
						"total":         damageView(),
						"avoided_ratio": map[string]any{"type": "number", "nullable": true, "description": "1 − headroom/static over every project"},
					}},
				"Reject": map[string]any{"type": "object", "required": []string{"reason"}, "additionalProperties": false,
					"properties": map[string]any{"reason": map[string]any{"type": "string"}}},
			},
		},
	}
}

func damageView() map[string]any {
	bytes := func(desc string) map[string]any {
		return map[string]any{"type": "number", "minimum": 0, "description": desc}
	}
	return map[string]any{"type": "object",
		"required": []string{"project", "direction", "headroom_bytes", "static_bytes", "avoided_bytes", "rounds"},
		"properties": map[string]any{
			"project": map[string]any{"type": "string"}, "direction": map[string]any{"type": "string"},
			"headroom_bytes": bytes("bytes throttled under Headroom's quotas"),
			"static_bytes":   bytes("bytes the static shares would have throttled"),
			"avoided_bytes":  map[string]any{"type": "number", "description": "static_bytes − headroom_bytes"},
			"rounds":         map[string]any{"type": "integer"},
		}}
}

func nullableRate(desc string) map[string]any {
	return map[string]any{"type": "number", "nullable": true, "description": desc}
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

func (a *API) openapi(c *gin.Context) { c.JSON(http.StatusOK, a.Document()) }
