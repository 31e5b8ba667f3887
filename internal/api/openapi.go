package api

import (
	_ "embed"
	"net/http"
	"strings"
)

// openAPI describes every JSON route of /v1 (OpenAPI 3.1). It is kept by
// hand; openapi_test.go holds it to the routes New registers, their
// scopes, the wire contract's schemas (tasks/schema) and the real answers.
//
//go:embed openapi.json
var openAPI []byte

// Undocumented reports whether a path is left out of the OpenAPI document:
// the browser pages under /console/ and /monitor/ answer HTML, not JSON.
// This is the one rule the route test skips paths by.
func Undocumented(path string) bool {
	return strings.HasPrefix(path, "/console/") || strings.HasPrefix(path, "/monitor/")
}

// openAPIRoute adds GET /v1/openapi.json, readable with any valid token:
// it says what the API does, nothing of its data.
func openAPIRoute(rt *router) {
	rt.handle(http.MethodGet, "/v1/openapi.json", anyScope, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(openAPI)
	})
}
