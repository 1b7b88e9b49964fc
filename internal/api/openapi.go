package api

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the API's reference: an OpenAPI 3.1 document kept by
// hand beside the handlers. openapi_test.go fails when it and the routes
// registered here, or the answers they give, part ways.
//
//go:embed openapi.json
var openAPIDocument []byte

// serveOpenAPI serves GET /v1/openapi.json, without authentication: the
// document describes the API and holds nothing of any tenant.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument) // a failed write means the client went away
}
