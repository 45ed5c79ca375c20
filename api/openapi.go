package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
)

// openapiYAML is the API's OpenAPI 3 document, written by hand next to the
// route table; TestOpenAPI* hold the two together and validate real
// requests and responses against it.
//
//go:embed openapi.yaml
var openapiYAML []byte

var ginParam = regexp.MustCompile(`:([a-z]+)`)

// openAPIPath turns /a/:b into /a/{b}.
func openAPIPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

var (
	docOnce sync.Once
	doc     *openapi3.T
	docJSON []byte
	docErr  error
)

func loadDocument() {
	l := openapi3.NewLoader()
	d, err := l.LoadFromData(openapiYAML)
	if err != nil {
		docErr = fmt.Errorf("load the OpenAPI document: %w", err)
		return
	}
	if err := d.Validate(l.Context); err != nil {
		docErr = fmt.Errorf("validate the OpenAPI document: %w", err)
		return
	}
	b, err := json.Marshal(d)
	if err != nil {
		docErr = fmt.Errorf("encode the OpenAPI document: %w", err)
		return
	}
	doc, docJSON = d, b
}

// Document returns the API's OpenAPI 3 document, loaded and validated
// once. Callers must not modify it.
func Document() (*openapi3.T, error) {
	docOnce.Do(loadDocument)
	return doc, docErr
}

func (a *API) openapi(c *gin.Context) {
	if _, err := Document(); err != nil {
		problem(c, http.StatusInternalServerError, "OpenAPI document", err.Error())
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", docJSON)
}
