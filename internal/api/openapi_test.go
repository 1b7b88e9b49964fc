package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/metrics"
)

// The OpenAPI document (openapi.json) is the API's reference. The tests
// here hold it to the code: the routes registered are the routes
// documented, and every answer the api tests see (through the contract
// checker their test server is wrapped in) has a documented status and
// the documented shape.

// methods are the operations an OpenAPI path item may hold.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPI is the document, decoded as plain JSON values.
type openAPI struct {
	root map[string]any
	ops  []*documentedOp
}

// documentedOp is one operation of the document's paths.
type documentedOp struct {
	method   string   // upper case: "GET"
	path     string   // as documented: "/v1/events/{id}"
	segments []string // path split at "/"
	op       map[string]any
}

// loadOpenAPI reads and decodes openapi.json once for every test.
var loadOpenAPI = sync.OnceValues(func() (*openAPI, error) {
	data, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	doc := &openAPI{root: root}
	paths, _ := root["paths"].(map[string]any)
	for path, item := range paths {
		item := doc.resolve(item)
		for _, m := range methods {
			if op, ok := item[m].(map[string]any); ok {
				doc.ops = append(doc.ops, &documentedOp{method: strings.ToUpper(m), path: path,
					segments: strings.Split(path, "/"), op: op})
			}
		}
	}
	slices.SortFunc(doc.ops, func(a, b *documentedOp) int { return strings.Compare(a.path+" "+a.method, b.path+" "+b.method) })
	return doc, nil
})

func mustOpenAPI(t testing.TB) *openAPI {
	t.Helper()
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// pointer follows a local JSON pointer ("#/components/schemas/Error"):
// nil when it leads nowhere.
func (d *openAPI) pointer(ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var node any = d.root
	for _, part := range strings.Split(rest, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		if node, ok = m[part]; !ok {
			return nil
		}
	}
	return node
}

// resolve returns the object v is, or that its $ref chain leads to.
func (d *openAPI) resolve(v any) map[string]any {
	for range 20 {
		m, _ := v.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		v = d.pointer(ref)
	}
	return nil
}

// find returns the documented operation of method and an escaped URL path,
// nil for none. Where templates overlap, the one with the fewest
// parameters wins, as the mux's most specific pattern does; a GET
// operation also serves HEAD, as the mux's patterns do.
func (d *openAPI) find(method, path string) *documentedOp {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	segments := strings.Split(path, "/")
	var found *documentedOp
	for _, op := range d.ops {
		if op.method == method && matchSegments(op.segments, segments) &&
			(found == nil || strings.Count(op.path, "{") < strings.Count(found.path, "{")) {
			found = op
		}
	}
	return found
}

// methodsOf returns the methods documented for the escaped URL path,
// sorted, whichever template it fits.
func (d *openAPI) methodsOf(path string) []string {
	segments := strings.Split(path, "/")
	var methods []string
	for _, op := range d.ops {
		if matchSegments(op.segments, segments) && !slices.Contains(methods, op.method) {
			methods = append(methods, op.method)
		}
	}
	slices.Sort(methods)
	return methods
}

// matchSegments reports whether a path's segments fit a template's, a
// {parameter} standing for one segment that is not empty.
func matchSegments(template, segments []string) bool {
	if len(template) != len(segments) {
		return false
	}
	for i, t := range template {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if segments[i] == "" {
				return false
			}
		} else if t != segments[i] {
			return false
		}
	}
	return true
}

// checkAnswer returns what is wrong with an answer to method and path by
// the document: a status it does not list for the operation, a content
// type it does not list for that status, or a JSON body that lacks a
// required property or has a value of another type or outside an enum. A
// request to a documented path with another method must get the 405 of
// the error shape, with Allow naming the documented methods; a request to
// any other path, the 404.
func (d *openAPI) checkAnswer(method, path string, status int, header http.Header, body []byte) []string {
	var resp map[string]any
	where := fmt.Sprintf("%s %s → %d", method, path, status)
	if op := d.find(method, path); op != nil {
		where = fmt.Sprintf("%s %s (%s %s) → %d", method, path, op.method, op.path, status)
		responses, _ := op.op["responses"].(map[string]any)
		if resp = d.resolve(responses[strconv.Itoa(status)]); resp == nil {
			return []string{where + ": status not documented"}
		}
	} else if allowed := d.methodsOf(path); len(allowed) > 0 {
		if status != http.StatusMethodNotAllowed {
			return []string{where + ": the path is documented, not the method, and the answer is not 405"}
		}
		if got := strings.Split(header.Get("Allow"), ", "); !slices.Equal(slices.Sorted(slices.Values(got)), allowed) {
			return []string{fmt.Sprintf("%s: Allow %q, want the documented %s", where, header.Get("Allow"), strings.Join(allowed, ", "))}
		}
		resp = d.resolve(d.pointer("#/components/responses/MethodNotAllowed"))
	} else if status != http.StatusNotFound {
		return []string{where + ": no documented path, and the answer is not 404"}
	} else {
		resp = d.resolve(d.pointer("#/components/responses/NotFound"))
	}
	contentType := header.Get("Content-Type")

	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) > 0 {
			return []string{fmt.Sprintf("%s: a body of %d bytes where none is documented", where, len(body))}
		}
		return nil
	}
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return []string{fmt.Sprintf("%s: content type %q: %v", where, contentType, err)}
	}
	mt, ok := content[media].(map[string]any)
	if !ok {
		if _, anyType := content["*/*"]; anyType {
			return nil
		}
		return []string{fmt.Sprintf("%s: content type %s not documented", where, media)}
	}
	if media != "application/json" {
		return nil
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return []string{fmt.Sprintf("%s: the body is not JSON: %v", where, err)}
	}
	var problems []string
	for _, p := range d.checkValue(mt["schema"], value, "body") {
		problems = append(problems, where+": "+p)
	}
	return problems
}

// checkValue returns how value departs from schema: the required
// properties of objects, JSON types, enums and constants, through $ref,
// allOf, oneOf, properties and array items. Other keywords are not read.
func (d *openAPI) checkValue(schema, value any, at string) []string {
	s := d.resolve(schema)
	if s == nil {
		return []string{at + ": the schema does not resolve"}
	}
	var problems []string
	for _, sub := range asSlice(s["allOf"]) {
		problems = append(problems, d.checkValue(sub, value, at)...)
	}
	if alts := asSlice(s["oneOf"]); len(alts) > 0 {
		matches := 0
		for _, alt := range alts {
			if len(d.checkValue(alt, value, at)) == 0 {
				matches++
			}
		}
		if matches != 1 {
			problems = append(problems, fmt.Sprintf("%s: matches %d of its oneOf schemas, want 1", at, matches))
		}
	}
	if types := asStrings(s["type"]); len(types) > 0 && !slices.Contains(types, jsonType(value)) &&
		!(jsonType(value) == "integer" && slices.Contains(types, "number")) {
		return append(problems, fmt.Sprintf("%s: a JSON %s, want %s", at, jsonType(value), strings.Join(types, " or ")))
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(e, value) }) {
		problems = append(problems, fmt.Sprintf("%s: %v is not among %v", at, value, enum))
	}
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, value) {
		problems = append(problems, fmt.Sprintf("%s: %v, want %v", at, value, c))
	}
	switch v := value.(type) {
	case map[string]any:
		for _, name := range asStrings(s["required"]) {
			if _, ok := v[name]; !ok {
				problems = append(problems, fmt.Sprintf("%s: required property %q is missing", at, name))
			}
		}
		props, _ := s["properties"].(map[string]any)
		for name, propValue := range v {
			if prop, ok := props[name]; ok {
				problems = append(problems, d.checkValue(prop, propValue, at+"."+name)...)
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, item := range v {
				problems = append(problems, d.checkValue(items, item, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return problems
}

// jsonType names the JSON Schema type of a decoded value.
func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if v == float64(int64(v)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// asSlice reads a keyword that is a list: nil for anything else.
func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// asStrings reads a keyword that is a string or a list of them.
func asStrings(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, e := range asSlice(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// contractChecker wraps a test server's handler and checks every answer
// against the document. What it finds waits for report.
type contractChecker struct {
	doc      *openAPI
	mu       sync.Mutex
	problems []string
}

// newContractChecker returns a checker that reports, once the test and its
// servers are done, whatever report has not: register it before the server
// it wraps, so that the server's Close, which waits for every request,
// runs first.
func newContractChecker(t testing.TB) *contractChecker {
	c := &contractChecker{doc: mustOpenAPI(t)}
	t.Cleanup(func() { c.report(t) })
	return c
}

// wrap returns next with every answer checked.
func (c *contractChecker) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &answerRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if r.Context().Err() != nil {
			return // the client went away and read no answer
		}
		problems := c.doc.checkAnswer(r.Method, r.URL.EscapedPath(), rec.status, rec.Header(), rec.body.Bytes())
		if len(problems) > 0 {
			c.mu.Lock()
			c.problems = append(c.problems, problems...)
			c.mu.Unlock()
		}
	})
}

// report fails t with every problem found since the last report.
func (c *contractChecker) report(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	problems := c.problems
	c.problems = nil
	c.mu.Unlock()
	for _, p := range problems {
		t.Errorf("openapi.json: %s", p)
	}
}

// answerRecorder passes an answer on, remembering its status and body.
type answerRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (a *answerRecorder) WriteHeader(status int) {
	if !a.wrote {
		a.status, a.wrote = status, true
	}
	a.ResponseWriter.WriteHeader(status)
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	a.wrote = true
	a.body.Write(b)
	return a.ResponseWriter.Write(b)
}

func (a *answerRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// unnamedPath is a path template with its parameters unnamed
// ("/v1/events/{}"), as registered patterns and documented paths are
// compared; a pattern's "{name...}" and "{$}" are read as the document
// would write them.
func unnamedPath(path string) string {
	segments := strings.Split(strings.TrimSuffix(path, "{$}"), "/")
	for i, s := range segments {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segments[i] = "{}"
		}
	}
	return strings.Join(segments, "/")
}

// Every route the API registers is documented, and every documented
// operation is a registered route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	doc := mustOpenAPI(t)
	documented := map[string]bool{} // "GET /v1/events/{}"
	byPath := map[string][]string{} // documented methods by unnamed path
	for _, op := range doc.ops {
		path := unnamedPath(op.path)
		documented[op.method+" "+path] = true
		byPath[path] = append(byPath[path], op.method)
	}

	// With metrics, so GET /metrics is registered too.
	b := setupWith(t, setupOptions{noDispatcher: true})
	h := api.New(api.Config{Store: b.store, Metrics: metrics.New(metrics.Config{Store: b.store})})
	registered := map[string]bool{}
	for _, pattern := range h.Routes() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok { // no method: it serves whichever the document lists
			method, path = "", pattern
		}
		path = unnamedPath(path)
		if method == "" {
			if len(byPath[path]) == 0 {
				t.Errorf("route %q is not documented in openapi.json", pattern)
			}
			for _, m := range byPath[path] {
				registered[m+" "+path] = true
			}
			continue
		}
		key := method + " " + path
		if registered[key] {
			t.Errorf("route %q is registered twice", pattern)
		}
		registered[key] = true
		if !documented[key] {
			t.Errorf("route %q is registered but not documented in openapi.json", pattern)
		}
	}
	for _, op := range doc.ops {
		if !registered[op.method+" "+unnamedPath(op.path)] {
			t.Errorf("openapi.json documents %s %s, which is not a route", op.method, op.path)
		}
	}
	if len(registered) == 0 {
		t.Fatal("no routes registered")
	}

	// The metrics, which the other tests' servers do not serve, answer
	// as documented too.
	contract := newContractChecker(t)
	srv := httptest.NewServer(contract.wrap(h))
	t.Cleanup(srv.Close)
	m := &testBundle{store: b.store, srv: srv, contract: contract}
	if res := m.do(t, "GET", "/metrics", "", nil); res.status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", res.status)
	}
}

// The document is OpenAPI 3.1, every reference in it resolves, and every
// operation has a unique operationId, at least one response, and a
// parameter for each of its path's.
func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	t.Parallel()
	doc := mustOpenAPI(t)
	if v := doc.root["openapi"]; v != "3.1.0" {
		t.Errorf("openapi %v, want 3.1.0", v)
	}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && doc.pointer(ref) == nil {
				t.Errorf("%s: $ref %q does not resolve", at, ref)
			}
			for k, e := range v {
				walk(e, at+"/"+k)
			}
		case []any:
			for i, e := range v {
				walk(e, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc.root, "#")

	ids := map[string]string{}
	check := func(method, path string, op map[string]any, pathParams []any) {
		where := method + " " + path
		id, _ := op["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", where)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s: operationId %q is %s's too", where, id, other)
		}
		ids[id] = where
		if responses, _ := op["responses"].(map[string]any); len(responses) == 0 {
			t.Errorf("%s: no responses", where)
		}
		declared := map[string]bool{}
		for _, p := range append(slices.Clone(pathParams), asSlice(op["parameters"])...) {
			if p := doc.resolve(p); p["in"] == "path" {
				declared[p["name"].(string)] = true
			}
		}
		for _, s := range strings.Split(path, "/") {
			if name, ok := strings.CutPrefix(s, "{"); ok && !declared[strings.TrimSuffix(name, "}")] {
				t.Errorf("%s: path parameter %s is not declared", where, s)
			}
		}
	}
	for _, section := range []string{"paths", "webhooks"} {
		items, _ := doc.root[section].(map[string]any)
		for path, item := range items {
			item := doc.resolve(item)
			for _, m := range methods {
				if op, ok := item[m].(map[string]any); ok {
					check(strings.ToUpper(m), path, op, asSlice(item["parameters"]))
				}
			}
		}
	}
	if len(ids) == 0 {
		t.Fatal("no operations")
	}
}

// GET /v1/openapi.json serves the document in the repository as it is,
// without a token.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	res, err := b.srv.Client().Get(b.srv.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" || !bytes.Equal(got, want) {
		t.Fatalf("status %d, content type %q, %d bytes; want 200, application/json and the %d bytes of openapi.json",
			res.StatusCode, res.Header.Get("Content-Type"), len(got), len(want))
	}
}

// The contract checker itself: it finds an undocumented status, a
// missing required property, in a list's items too, a wrong type and an
// undocumented route, and passes a good answer.
func TestContractCheckerFindsDrift(t *testing.T) {
	t.Parallel()
	doc := mustOpenAPI(t)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string // the Allow header
		body         string
		want         string // in the only problem; "" for none
	}{
		{"GET", "/v1/events/evt_1", 418, "", `{}`, "status not documented"},
		{"GET", "/v1/events/evt_1/deliveries", 200, "", `{"data":[{"id":"dlv_1","event_id":"evt_1","destination_id":"dst_1","status":"pending","attempts":0}],"next_cursor":null}`,
			`body.data[0]: required property "next_attempt_at" is missing`},
		{"GET", "/v1/events/evt_1/deliveries", 200, "", `{"data":[],"next_cursor":null}`, ""},
		{"GET", "/v1/events/evt_1/deliveries", 200, "", `{"data":[{"id":"dlv_1","event_id":"evt_1","destination_id":"dst_1","status":"lost","attempts":0,"next_attempt_at":null}],"next_cursor":null}`,
			"is not among"},
		{"POST", "/v1/keys", 201, "", `{"id":"key_1","name":"","role":"admin","operator":false,"token":7,"created_at":"2026-01-01T00:00:00Z","expires_at":null,"last_used_at":null}`,
			"body.token: a JSON integer, want string"},
		{"GET", "/v1/nowhere", 200, "", `{}`, "no documented path"},
		{"GET", "/v1/nowhere", 404, "", `{"error":{"code":"not_found","message":"no route"}}`, ""},
		{"DELETE", "/v1/sources/src_1", 404, "", `{"error":{"code":"not_found"}}`, `required property "message" is missing`},
		{"PUT", "/v1/sources/src_1", 404, "", `{"error":{"code":"not_found","message":"no route"}}`, "not 405"},
		{"PUT", "/v1/sources/src_1", 405, "GET, PATCH", `{"error":{"code":"method_not_allowed","message":"no"}}`, "want the documented DELETE, GET, PATCH"},
		{"PUT", "/v1/sources/src_1", 405, "GET, PATCH, DELETE", `{"error":{"code":"method_not_allowed","message":"no"}}`, ""},
	} {
		header := http.Header{"Content-Type": {"application/json"}, "Allow": {c.allow}}
		problems := doc.checkAnswer(c.method, c.path, c.status, header, []byte(c.body))
		switch {
		case c.want == "" && len(problems) > 0:
			t.Errorf("%s %s %d %s: %q, want no problem", c.method, c.path, c.status, c.body, problems)
		case c.want != "" && (len(problems) != 1 || !strings.Contains(problems[0], c.want)):
			t.Errorf("%s %s %d %s: %q, want one problem with %q", c.method, c.path, c.status, c.body, problems, c.want)
		}
	}
}
