package integration

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// span is what the test reads of an exported span.
type span struct {
	trace, id, parent string
	name              string
	attrs             map[string]string
}

// otlpReceiver is a minimal OTLP/HTTP trace receiver: it decodes each
// ExportTraceServiceRequest (protobuf) and keeps the spans.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []span
	srv   *httptest.Server
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" {
			http.NotFound(w, req)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		var ex coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &ex)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.add(&ex)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) add(ex *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range ex.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, span{
					trace: hex.EncodeToString(s.GetTraceId()), id: hex.EncodeToString(s.GetSpanId()),
					parent: hex.EncodeToString(s.GetParentSpanId()), name: s.GetName(), attrs: attrs(s),
				})
			}
		}
	}
}

func attrs(s *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, kv := range s.GetAttributes() {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.GetKey()] = v.GetStringValue()
		default:
			m[kv.GetKey()] = strings.Trim(fmt.Sprint(v.GetValue()), "&{}")
		}
	}
	return m
}

func (r *otlpReceiver) Spans() []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// tree draws the trace of root as indented names, children sorted and the
// same name under one parent once: the shape, whatever the number of
// calls.
func tree(spans []span, root span) string {
	var b strings.Builder
	var walk func(s span, depth int)
	walk = func(s span, depth int) {
		fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", depth), s.name)
		var kids []span
		seen := map[string]bool{}
		for _, c := range spans {
			if c.parent == s.id && c.trace == s.trace && !seen[c.name] {
				seen[c.name] = true
				kids = append(kids, c)
			}
		}
		slices.SortFunc(kids, func(a, b span) int { return strings.Compare(a.name, b.name) })
		for _, c := range kids {
			// Among same-named siblings, the one with the most below it.
			best := c
			for _, o := range spans {
				if o.parent == s.id && o.name == c.name && descendants(spans, o) > descendants(spans, best) {
					best = o
				}
			}
			walk(best, depth+1)
		}
	}
	walk(root, 0)
	return b.String()
}

// below is the distinct names of the spans under s, sorted.
func below(spans []span, s span) []string {
	seen := map[string]bool{}
	var walk func(s span)
	walk = func(s span) {
		for _, c := range spans {
			if c.parent == s.id {
				seen[c.name] = true
				walk(c)
			}
		}
	}
	walk(s)
	names := slices.Collect(maps.Keys(seen))
	slices.Sort(names)
	return names
}

func descendants(spans []span, s span) int {
	n := 0
	for _, c := range spans {
		if c.parent == s.id {
			n += 1 + descendants(spans, c)
		}
	}
	return n
}

// TestOneTracePerRequest: a merge enqueued by a producer process and an
// erasure filed by another are each one trace, from the producer's span
// through the worker process's attempt to every upstream call and storage
// operation, the erasure's continuation slices included; spans hold no
// secrets, and the worker's log lines carry the trace's id.
func TestOneTracePerRequest(t *testing.T) {
	recv := startOTLPReceiver(t)
	redisAddr, _ := testutil.RealRedis(t)
	redisURL := "redis://" + redisAddr
	set := harness.StartSimulators(t)
	store, dir := testutil.FileStore(t)
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.srv.URL, "OTEL_BSP_SCHEDULE_DELAY=100"}

	// A guest with designs, photos and stored assets, merged into a user;
	// a user with photos and stored assets, erased.
	set.Artifi.AddDesigns("guest-t1", 2)
	set.Artifi.AddPhotos("guest-t1", 2)
	set.Artifi.AddPhotos("u-erase", 3)
	testutil.PutObjects(t, store, "users/guest-t1/a.jpg", "users/guest-t1/b.jpg", "users/u-erase/c.jpg", "users/u-erase/d.jpg")

	workerEnv := harness.WorkerEnv(t, redisURL, dir, set,
		append(otel, "LIFECYCLE_RECEIPT_SIGNING_KEY=MC4CAQAwBQYDK2VwBCIEIL4jbNy+MLgI+6rtamHjZUWDkRLV43Z2F5aJLEf7HxJR",
			// Slices of a second, and Artifi slower than that (set below), so
			// that the erasure is a chain of tasks.
			"LIFECYCLE_ERASURE_SLICE_BUDGET=1s")...)
	worker := harness.StartProcess(t, workerEnv, "worker")
	produce := func(args ...string) {
		t.Helper()
		p := harness.StartProcess(t, append([]string{"LIFECYCLE_REDIS_URL=" + redisURL}, otel...), args...)
		if code, ok := p.Wait(30 * time.Second); !ok || code != 0 {
			t.Fatalf("lifecycle %v: exit %d:\n%s", args, code, p.Output())
		}
	}
	done := func(typ string) bool {
		for _, s := range recv.Spans() {
			if s.name == "task "+typ && s.attrs["lifecycle.outcome"] == "succeeded" {
				return true
			}
		}
		return false
	}
	produce("enqueue", "merge", "--guest-id", "guest-t1", "--user-id", "u-t1")
	testutil.Eventually(t, 30*time.Second, func() bool { return done("user:merge") },
		"no succeeded merge span after 30 s; spans: %v\nworker:\n%s", testutil.Later(func() any { return recv.Spans() }), testutil.Later(func() any { return worker.Output() }))
	set.Artifi.Faults().Set(faults.Config{Latency: 1200 * time.Millisecond})
	produce("erasure", "file", "--request-id", "GDPR-T-1", "--user-id", "u-erase", "--filed-by", "privacy-1")
	// The erasure is done when its last slice's span, the one that logged
	// "erasure done", has arrived.
	lastSlice := regexp.MustCompile(`"span_id":"([0-9a-f]+)"[^\n]*"message":"erasure done"`)
	testutil.Eventually(t, 60*time.Second, func() bool {
		m := lastSlice.FindStringSubmatch(worker.Output())
		if m == nil {
			return false
		}
		for _, s := range recv.Spans() {
			if s.id == m[1] {
				return done("user:erase")
			}
		}
		return false
	},
		"no succeeded merge and erasure spans after 60 s; spans: %v\nworker:\n%s", testutil.Later(func() any { return recv.Spans() }), testutil.Later(func() any { return worker.Output() }))
	spans := recv.Spans()

	for _, tt := range []struct {
		producer, task string
		minTasks       int
		want           string // the tree, or for a chain of tasks the names below the producer
	}{
		// HTTP GET: the merge lists the guest's photos before UpdateUserId,
		// so that a later 232 can be checked against them (seed 003).
		{"enqueue merge", "task user:merge", 1, `enqueue merge
  task user:merge
    HTTP GET
    HTTP PUT
    storage list
    storage move
`},
		{"erasure file", "task user:erase", 2, "HTTP DELETE, HTTP GET, storage delete_many, storage list, storage put, task user:erase"},
	} {
		t.Run(tt.task, func(t *testing.T) {
			var roots []span
			for _, s := range spans {
				if s.name == tt.producer {
					roots = append(roots, s)
				}
			}
			if len(roots) != 1 {
				t.Fatalf("%d %q spans, want 1", len(roots), tt.producer)
			}
			root := roots[0]
			if root.parent != "" {
				t.Errorf("%q has a parent %s: a producer starts the trace", root.name, root.parent)
			}
			byID := map[string]span{}
			for _, s := range spans {
				byID[s.id] = s
			}
			tasks := 0
			for _, s := range spans {
				if s.name != tt.task {
					continue
				}
				tasks++
				if s.trace != root.trace {
					t.Errorf("%q span %s is in trace %s, not the producer's %s", s.name, s.id, s.trace, root.trace)
				}
				// Each attempt's parent is the producer, or the slice that
				// enqueued it.
				if p := byID[s.parent]; p.id != root.id && p.name != tt.task {
					t.Errorf("%q span %s has parent %q, want %q or %q", s.name, s.id, p.name, root.name, tt.task)
				}
			}
			if tasks < tt.minTasks {
				t.Errorf("%d %q spans, want at least %d", tasks, tt.task, tt.minTasks)
			}
			got := tree(spans, root)
			t.Logf("trace %s:\n%s", root.trace, got)
			if tt.minTasks > 1 {
				got = strings.Join(below(spans, root), ", ")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("trace (-want +got):\n%s", diff)
			}
			if !strings.Contains(worker.Output(), `"trace_id":"`+root.trace+`"`) {
				t.Errorf("no worker log line carries trace_id %s", root.trace)
			}
		})
	}

	// The API joins its caller's trace, and the erasure it files is in
	// it (a user with photos and nothing stored).
	set.Artifi.AddPhotos("u-api", 2)
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	var httpAddr string
	for _, kv := range workerEnv {
		if v, ok := strings.CutPrefix(kv, "LIFECYCLE_HTTP_ADDR="); ok {
			httpAddr = v
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/erasures",
		strings.NewReader(`{"request_id": "GDPR-T-2", "user_id": "u-api", "filed_by": "privacy-1", "filed_at": "2026-11-30T10:00:00Z"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/erasures: %s", resp.Status)
	}
	apiDone := regexp.MustCompile(`"trace_id":"` + callerTrace + `","span_id":"([0-9a-f]+)"[^\n]*"message":"erasure done"`)
	testutil.Eventually(t, 60*time.Second, func() bool {
		m := apiDone.FindStringSubmatch(worker.Output())
		return m != nil && slices.ContainsFunc(recv.Spans(), func(s span) bool { return s.id == m[1] })
	}, "the API's erasure is not done, or its last span not exported, after 60 s; worker:\n%s", testutil.Later(func() any { return worker.Output() }))
	spans = recv.Spans()
	var server []span
	for _, s := range spans {
		if s.trace == callerTrace && s.parent == callerSpan {
			server = append(server, s)
		}
	}
	if len(server) != 1 || server[0].name != "HTTP POST /v1" {
		t.Fatalf("spans whose parent is the caller's: %v, want one HTTP POST /v1", server)
	}
	if got, want := strings.Join(below(spans, server[0]), ", "), "HTTP DELETE, HTTP GET, storage list, storage put, task user:erase"; got != want {
		t.Errorf("under the API's span: %s, want %s", got, want)
	}

	for _, s := range spans {
		for k, v := range s.attrs {
			for _, secret := range []string{set.Credentials.ArtifiClientKey, "webApiClientKey", "guest-t1", "u-erase", "u-api"} {
				if strings.Contains(v, secret) {
					t.Errorf("span %q attribute %s=%q holds %q", s.name, k, v, secret)
				}
			}
		}
		if strings.HasPrefix(s.name, "task ") {
			for _, k := range []string{"messaging.message.id", "messaging.destination.name", "lifecycle.task.type", "lifecycle.task.attempt", "lifecycle.outcome"} {
				if s.attrs[k] == "" {
					t.Errorf("span %q lacks attribute %s: %v", s.name, k, s.attrs)
				}
			}
		}
	}
}
