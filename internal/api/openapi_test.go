package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// The tests here hold openapi.json to the server: the routes it names are
// the routes New registers (and the scopes), every example fits its schema,
// and what the real handlers answer fits the schema the document declares.

// oaDoc is the part of an OpenAPI document the tests read.
type oaDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type oaOp struct {
	OperationID string                `json:"operationId"`
	Security    []map[string][]string `json:"security"`
	Parameters  []struct {
		Name    string          `json:"name"`
		In      string          `json:"in"`
		Example json.RawMessage `json:"example"`
	} `json:"parameters"`
	RequestBody *struct {
		Required bool               `json:"required"`
		Content  map[string]oaMedia `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]oaMedia `json:"content"`
	} `json:"responses"`

	method, path string
}

type oaMedia struct {
	Schema   json.RawMessage `json:"schema"`
	Examples map[string]struct {
		Value json.RawMessage `json:"value"`
	} `json:"examples"`
}

// scope is the one scope the operation's security names: "" for any
// valid token.
func (o oaOp) scope(t *testing.T) apitoken.Scope {
	t.Helper()
	if len(o.Security) != 1 || len(o.Security[0]) != 1 || len(o.Security[0]["bearer"]) > 1 {
		t.Fatalf("%s %s: security %v, want [{bearer: [scope]}]", o.method, o.path, o.Security)
	}
	if s := o.Security[0]["bearer"]; len(s) == 1 {
		return apitoken.Scope(s[0])
	}
	return anyScope
}

// examplePath is the operation's path with its parameters' examples.
func (o oaOp) examplePath(t *testing.T) string {
	t.Helper()
	path, query := o.path, []string{}
	for _, p := range o.Parameters {
		var v any
		if err := json.Unmarshal(p.Example, &v); err != nil {
			t.Fatalf("%s %s: parameter %s has no example", o.method, o.path, p.Name)
		}
		switch p.In {
		case "path":
			path = strings.ReplaceAll(path, "{"+p.Name+"}", fmt.Sprint(v))
		case "query":
			query = append(query, p.Name+"="+fmt.Sprint(v))
		}
	}
	if len(query) > 0 {
		path += "?" + strings.Join(query, "&")
	}
	return path
}

// exampleBody is the first (by name) example of the JSON request body.
func (o oaOp) exampleBody(t *testing.T) string {
	t.Helper()
	if o.RequestBody == nil {
		return ""
	}
	m := o.RequestBody.Content["application/json"]
	names := slices.Sorted(maps.Keys(m.Examples))
	if len(names) == 0 {
		t.Fatalf("%s %s: request body without an example", o.method, o.path)
	}
	return string(m.Examples[names[0]].Value)
}

func readDoc(t *testing.T) (oaDoc, []oaOp) {
	t.Helper()
	var d oaDoc
	if err := json.Unmarshal(openAPI, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var ops []oaOp
	for _, path := range slices.Sorted(maps.Keys(d.Paths)) {
		for _, method := range slices.Sorted(maps.Keys(d.Paths[path])) {
			var o oaOp
			if err := json.Unmarshal(d.Paths[path][method], &o); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			o.method, o.path = strings.ToUpper(method), path
			ops = append(ops, o)
		}
	}
	return d, ops
}

// schemas compiles the schemas of openapi.json by their JSON pointers.
type schemas struct {
	c     *jsonschema.Compiler
	cache map[string]*jsonschema.Schema
}

const docURL = "https://lifecycle.invalid/v1/openapi.json"

func newSchemas(t *testing.T) *schemas {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPI))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, doc); err != nil {
		t.Fatal(err)
	}
	return &schemas{c: c, cache: map[string]*jsonschema.Schema{}}
}

func pointer(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("/" + strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// validate checks body against the schema at ptr.
func (s *schemas) validate(ptr string, body []byte) error {
	sch, ok := s.cache[ptr]
	if !ok {
		var err error
		if sch, err = s.c.Compile(docURL + "#" + ptr); err != nil {
			return fmt.Errorf("schema %s: %w", ptr, err)
		}
		s.cache[ptr] = sch
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// responseSchema is the pointer to the schema o declares for status and
// media type mt, or an error naming what is undeclared.
func (o oaOp) responseSchema(status int, mt string) (string, error) {
	r, ok := o.Responses[fmt.Sprint(status)]
	if !ok {
		return "", fmt.Errorf("status %d not declared", status)
	}
	if _, ok := r.Content[mt]; !ok {
		return "", fmt.Errorf("status %d: media type %q not declared", status, mt)
	}
	return pointer("paths", o.path, strings.ToLower(o.method), "responses", fmt.Sprint(status), "content", mt, "schema"), nil
}

// apiServer is a server with every route, on a real Redis, and a token per
// scope: one with only that scope, one with all the others.
type apiServer struct {
	h        http.Handler
	p        Params
	only     map[apitoken.Scope]string // secrets
	allBut   map[apitoken.Scope]string
	receipts map[string][]byte
}

func newAPIServer(t *testing.T) *apiServer {
	t.Helper()
	addr, rdb := testutil.RealRedis(t)
	opt := asynq.RedisClientOpt{Addr: addr}
	client := tasks.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	in := testutil.Inspector(t, opt)
	s := &apiServer{only: map[apitoken.Scope]string{}, allBut: map[apitoken.Scope]string{}, receipts: map[string][]byte{}}
	scopes := map[string][]apitoken.Scope{}
	for _, sc := range apitoken.Scopes() {
		name := strings.ReplaceAll(string(sc), ":", "-")
		scopes["only-"+name] = []apitoken.Scope{sc}
		scopes["all-but-"+name] = slices.DeleteFunc(apitoken.Scopes(), func(o apitoken.Scope) bool { return o == sc })
	}
	set, secrets := issueTokens(t, scopes)
	for _, sc := range apitoken.Scopes() {
		name := strings.ReplaceAll(string(sc), ":", "-")
		s.only[sc], s.allBut[sc] = secrets["only-"+name], secrets["all-but-"+name]
	}
	svc := &erasure.Service{Store: erasure.NewStore(rdb), Queue: erasuretasks.NewQueue(client, in), Approval: true, Audit: true}
	s.p = Params{
		Gatherer: prometheus.NewRegistry(), Log: zerolog.Nop(), Erasures: svc, Tasks: NewTaskQueue(client, in),
		Tokens: set, Audit: &audit.Recorder{Redis: rdb},
		Receipts: func(_ context.Context, id string) ([]byte, error) {
			if doc, ok := s.receipts[id]; ok {
				return doc, nil
			}
			return nil, ErrNoReceipt
		},
	}
	s.h = New(s.p)
	return s
}

func (s *apiServer) do(method, path, secret, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "10.0.0.1:5"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

// TestOpenAPIDocumentsEveryRoute: the routes the server registers and the
// operations the document names are the same, either way, with the same
// scopes. Only Undocumented paths (the HTML console) are left out.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	s := newAPIServer(t)
	var registered []string
	for _, r := range Routes(s.p) {
		if !Undocumented(r.Path) {
			registered = append(registered, r.Method+" "+r.Path+" scope="+string(r.Scope))
		}
	}
	var documented []string
	_, ops := readDoc(t)
	for _, o := range ops {
		if Undocumented(o.path) {
			t.Errorf("%s %s is documented, but Undocumented leaves it out", o.method, o.path)
		}
		documented = append(documented, o.method+" "+o.path+" scope="+string(o.scope(t)))
	}
	slices.Sort(registered)
	slices.Sort(documented)
	if diff := cmp.Diff(registered, documented); diff != "" {
		t.Errorf("registered routes (-) differ from openapi.json (+):\n%s", diff)
	}
	if len(documented) < 16 {
		t.Errorf("only %d operations documented", len(documented))
	}
}

// TestOpenAPIScopes walks every operation of the document on a real Redis:
// without a token, or with a wrong one, 401; with a token holding every
// scope but the operation's, 403; with the operation's scope alone, neither.
// The refusals fit the document's error schema.
func TestOpenAPIScopes(t *testing.T) {
	s := newAPIServer(t)
	sch := newSchemas(t)
	_, ops := readDoc(t)
	for _, o := range ops {
		scope := o.scope(t)
		path, body := o.examplePath(t), o.exampleBody(t)
		type try struct {
			name, secret string
			ok           func(int) bool
		}
		tries := []try{
			{"no token", "", func(c int) bool { return c == 401 }},
			{"wrong token", "lct_guess", func(c int) bool { return c == 401 }},
		}
		if scope == anyScope {
			tries = append(tries, try{"any token", s.only[apitoken.ScopeMerge], func(c int) bool { return c != 401 && c != 403 }})
		} else {
			tries = append(tries,
				try{"every other scope", s.allBut[scope], func(c int) bool { return c == 403 }},
				try{"its scope", s.only[scope], func(c int) bool { return c != 401 && c != 403 }})
		}
		for _, c := range tries {
			rec := s.do(o.method, path, c.secret, body)
			if !c.ok(rec.Code) {
				t.Errorf("%s %s (scope %q), %s: %d %s", o.method, path, scope, c.name, rec.Code, rec.Body)
				continue
			}
			if rec.Code == 401 || rec.Code == 403 {
				ptr, err := o.responseSchema(rec.Code, "application/json")
				if err == nil {
					err = sch.validate(ptr, rec.Body.Bytes())
				}
				if err != nil {
					t.Errorf("%s %s, %s: answer %d %s: %v", o.method, path, c.name, rec.Code, rec.Body, err)
				}
			}
		}
	}
}

// TestOpenAPIExamplesMatchSchemas: every example in the document, of a
// parameter, a request or a response, fits the schema beside it.
func TestOpenAPIExamplesMatchSchemas(t *testing.T) {
	sch := newSchemas(t)
	_, ops := readDoc(t)
	var n int
	for _, o := range ops {
		m := strings.ToLower(o.method)
		for i, p := range o.Parameters {
			if err := sch.validate(pointer("paths", o.path, m, "parameters", fmt.Sprint(i), "schema"), p.Example); err != nil {
				t.Errorf("%s %s: parameter %s example %s: %v", o.method, o.path, p.Name, p.Example, err)
			}
			n++
		}
		if o.RequestBody != nil {
			for mt, media := range o.RequestBody.Content {
				if len(media.Examples) == 0 {
					t.Errorf("%s %s: request body %s has no example", o.method, o.path, mt)
				}
				for name, ex := range media.Examples {
					if err := sch.validate(pointer("paths", o.path, m, "requestBody", "content", mt, "schema"), ex.Value); err != nil {
						t.Errorf("%s %s: request example %q: %v", o.method, o.path, name, err)
					}
					n++
				}
			}
		}
		for status, r := range o.Responses {
			for mt, media := range r.Content {
				for name, ex := range media.Examples {
					if err := sch.validate(pointer("paths", o.path, m, "responses", status, "content", mt, "schema"), ex.Value); err != nil {
						t.Errorf("%s %s: %s example %q: %v", o.method, o.path, status, name, err)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d examples checked", n)
	if n < 40 {
		t.Errorf("only %d examples", n)
	}
}

// TestOpenAPIExamplesRunOnTheRealHandlers sends each operation's example
// request to the server, as a client reading the document would, in the
// order a privacy team and a producer would: each succeeds, and its real
// answer fits the schema the document declares for its status. Where the
// answer does not depend on the clock, it is the document's example.
func TestOpenAPIExamplesRunOnTheRealHandlers(t *testing.T) {
	s := newAPIServer(t)
	sch := newSchemas(t)
	_, ops := readDoc(t)
	byID := map[string]oaOp{}
	for _, o := range ops {
		byID[o.OperationID] = o
	}
	order := []string{
		"fileErasure", "getErasure", "listErasures", "approveErasure", "denyErasure", "extendErasure", "getErasureReceipt",
		"enqueuePhotoDeletion", "enqueueMerge", "enqueuePhotoDeletions", "enqueueMerges",
		"getPhotoDeletion", "getMerge", "getTask", "listAudit", "getOpenAPI",
	}
	// Their examples are the answers byte for byte (as JSON values).
	exact := map[string]bool{"fileErasure": true, "enqueuePhotoDeletion": true, "enqueueMerge": true, "enqueueMerges": true, "enqueuePhotoDeletions": true}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(byID)), slices.Sorted(slices.Values(order))); diff != "" {
		t.Fatalf("operations to run (-document +test):\n%s", diff)
	}

	// What the examples act on besides what they create themselves: two
	// more filed requests (denyErasure, extendErasure) and a done one's
	// receipt.
	filing := byID["fileErasure"].exampleBody(t)
	for _, id := range []string{"gdpr-1043", "gdpr-1044"} {
		if rec := s.do("POST", "/v1/erasures", s.only[apitoken.ScopeErasureFile], strings.Replace(filing, "gdpr-1042", id, 1)); rec.Code != 202 {
			t.Fatalf("file %s: %d %s", id, rec.Code, rec.Body)
		}
	}
	receipt, err := json.Marshal(erasure.Receipt{Version: 1, RequestID: "gdpr-1001", UserID: "u-1001", Subjects: []string{"u-1001"},
		FiledBy: "dpo-anna", FiledAt: time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC), DueAt: time.Date(2026, 10, 31, 9, 0, 0, 0, time.UTC),
		StartedAt: time.Date(2026, 10, 1, 9, 0, 1, 0, time.UTC), FinishedAt: time.Date(2026, 10, 1, 9, 3, 0, 0, time.UTC),
		Systems: []erasure.SystemSummary{}, Steps: []erasure.ReceiptStep{}})
	if err != nil {
		t.Fatal(err)
	}
	s.receipts["gdpr-1001"] = receipt

	for _, id := range order {
		o := byID[id]
		scope := o.scope(t)
		secret := s.only[scope]
		if scope == anyScope {
			secret = s.only[apitoken.ScopeAdmin]
		}
		path := o.examplePath(t)
		rec := s.do(o.method, path, secret, o.exampleBody(t))
		if rec.Code/100 != 2 {
			t.Errorf("%s: %s %s: %d %s", id, o.method, path, rec.Code, rec.Body)
			continue
		}
		mt, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
		ptr, err := o.responseSchema(rec.Code, mt)
		if err == nil {
			err = sch.validate(ptr, rec.Body.Bytes())
		}
		if err != nil {
			t.Errorf("%s: answer %d %s: %v", id, rec.Code, rec.Body, err)
			continue
		}
		if exact[id] {
			var got any
			_ = json.Unmarshal(rec.Body.Bytes(), &got)
			var diffs []string
			for name, ex := range o.Responses[fmt.Sprint(rec.Code)].Content[mt].Examples {
				var want any
				_ = json.Unmarshal(ex.Value, &want)
				diff := cmp.Diff(want, got)
				if diff == "" {
					diffs = nil
					break
				}
				diffs = append(diffs, name+" (-example +answer):\n"+diff)
			}
			if len(diffs) > 0 {
				t.Errorf("%s: the answer %d is none of the document's examples:\n%s", id, rec.Code, strings.Join(diffs, "\n"))
			}
		}
		if id == "getOpenAPI" && !bytes.Equal(rec.Body.Bytes(), openAPI) {
			t.Errorf("GET /v1/openapi.json is not openapi.json")
		}
	}
}

// TestOpenAPIBodiesAreTheWireContract: the enqueue bodies are the payload
// schemas of tasks/schema, copied into the document unchanged, so that a
// producer reads one contract whether it enqueues over HTTP or with asynq.
func TestOpenAPIBodiesAreTheWireContract(t *testing.T) {
	d, ops := readDoc(t)
	for name, file := range map[string]string{
		"PhotoDeletePayload": "photo-delete.json", "UserMergePayload": "user-merge.json", "UserErasePayload": "user-erase.json",
	} {
		b, err := os.ReadFile(filepath.Join("..", "..", "tasks", "schema", file))
		if err != nil {
			t.Fatal(err)
		}
		var want, got any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(d.Components.Schemas[name], &got); err != nil {
			t.Fatalf("components.schemas.%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("components.schemas.%s is not tasks/schema/%s (-contract +openapi.json):\n%s", name, file, diff)
		}
	}
	bodies := map[string]string{}
	for _, o := range ops {
		if o.RequestBody != nil {
			bodies[o.OperationID] = string(o.RequestBody.Content["application/json"].Schema)
		}
	}
	for id, want := range map[string]string{
		"enqueuePhotoDeletion": "PhotoDeletePayload", "enqueueMerge": "UserMergePayload",
	} {
		if got := bodies[id]; !strings.Contains(got, `"#/components/schemas/`+want+`"`) {
			t.Errorf("%s: body schema %s, want a $ref to %s", id, got, want)
		}
	}
}

// TestOpenAPIIsOpenAPI31: the document is valid by the OpenAPI Initiative's
// schema of 3.1 documents (testdata/oas-3.1-schema.json, the 2022-10-07
// "without schema validation" one, Apache 2.0, as openapi-spec-validator
// ships it; the schemas inside are checked by compiling them, above), so
// that generators and linters read it.
func TestOpenAPIIsOpenAPI31(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "oas-3.1-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	const metaURL = "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(metaURL, meta); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(metaURL)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPI))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("openapi.json is not an OpenAPI 3.1 document: %v", err)
	}
	// The validator sees a broken document: a parameter in the body, as
	// OpenAPI 2 had them.
	var broken map[string]any
	_ = json.Unmarshal(openAPI, &broken)
	broken["paths"].(map[string]any)["/v1/audit"].(map[string]any)["get"].(map[string]any)["parameters"].([]any)[0].(map[string]any)["in"] = "body"
	b, _ := json.Marshal(broken)
	v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if sch.Validate(v) == nil {
		t.Errorf("a parameter in the body passes the OpenAPI 3.1 schema")
	}
}
