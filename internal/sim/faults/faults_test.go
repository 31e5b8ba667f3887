package faults

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newServer starts h behind inj and returns a client without keep-alives, so
// that a reset reaches the caller instead of being silently resent by the
// Transport on a fresh connection.
func newServer(t *testing.T, inj *Injector, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/_sim/faults", inj.AdminHandler())
	mux.Handle("/", h)
	srv := httptest.NewServer(inj.Wrap(mux))
	t.Cleanup(srv.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func okHandler(hits *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "ok")
	})
}

func TestRatesAreRespected(t *testing.T) {
	const n = 2000
	inj := New("test", Config{ErrorRate: 0.2, ThrottleRate: 0.1, RetryAfter: 3 * time.Second, Seed: 42})
	var hits atomic.Int64
	srv, client := newServer(t, inj, okHandler(&hits))

	statuses := map[int]int{}
	var retryAfter string
	for range n {
		resp, err := client.Get(srv.URL + "/thing?x=1")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	errs := statuses[500] + statuses[502] + statuses[503]
	within := func(name string, got int, rate float64) {
		// Five standard deviations of a binomial: a seeded run never flakes,
		// and a wrong rate (say 0.1 for 0.2) is far outside.
		sd := math.Sqrt(n * rate * (1 - rate))
		if math.Abs(float64(got)-n*rate) > 5*sd {
			t.Errorf("%s: %d of %d, want about %.0f", name, got, n, n*rate)
		}
	}
	within("errors", errs, 0.2)
	within("throttled", statuses[429], 0.1)
	for _, s := range []int{500, 502, 503} {
		if statuses[s] == 0 {
			t.Errorf("no %d among the injected errors: %v", s, statuses)
		}
	}
	if retryAfter != "3" {
		t.Errorf("Retry-After = %q, want %q", retryAfter, "3")
	}
	// Injected answers never reached the handler.
	if got, want := hits.Load(), int64(statuses[200]); got != want {
		t.Errorf("handler ran %d times, want %d (the 200s)", got, want)
	}
	st := inj.Stats()
	want := Stats{
		Requests:       map[string]int64{"GET /thing": n},
		Handled:        map[string]int64{"GET /thing": int64(statuses[200])},
		Injected:       map[Kind]int64{KindError: int64(errs), KindThrottle: int64(statuses[429])},
		PeakConcurrent: 1,
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	run := func() []Kind {
		inj := New("test", Config{ErrorRate: 0.3, ThrottleRate: 0.3, ResetRate: 0.1, Seed: 7})
		var got []Kind
		for range 200 {
			got = append(got, inj.decide("GET /").kind)
		}
		return got
	}
	if diff := cmp.Diff(run(), run()); diff != "" {
		t.Errorf("two runs with one seed differ (-first +second):\n%s", diff)
	}
}

func TestRetryAfterDefaultsToOneSecond(t *testing.T) {
	inj := New("test", Config{ThrottleRate: 1})
	var hits atomic.Int64
	srv, client := newServer(t, inj, okHandler(&hits))
	resp, err := client.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("got %d Retry-After %q, want 429 and \"1\"", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestMaxConcurrent(t *testing.T) {
	const limit, callers = 3, 12
	inj := New("test", Config{MaxConcurrent: limit})
	release := make(chan struct{})
	var inside atomic.Int64
	srv, client := newServer(t, inj, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside.Add(1)
		<-release
		_, _ = io.WriteString(w, "ok")
	}))

	statuses := make(chan int, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			resp, err := client.Get(srv.URL + "/slow")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	// Every refused caller answers at once; the admitted ones wait for release.
	got := map[int]int{}
	for range callers - limit {
		got[<-statuses]++
	}
	if diff := cmp.Diff(map[int]int{429: callers - limit}, got); diff != "" {
		t.Errorf("answers before release (-want +got):\n%s", diff)
	}
	if st := inj.Stats(); st.InFlight != limit {
		t.Errorf("InFlight = %d, want %d", st.InFlight, limit)
	}
	close(release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		got[s]++
	}
	if diff := cmp.Diff(map[int]int{429: callers - limit, 200: limit}, got); diff != "" {
		t.Errorf("all answers (-want +got):\n%s", diff)
	}
	st := inj.Stats()
	if st.PeakConcurrent != limit || st.InFlight != 0 || st.Injected[KindConcurrency] != callers-limit {
		t.Errorf("Stats = %+v, want peak %d, nothing in flight, %d refused", st, limit, callers-limit)
	}
}

func TestResetIsATransportError(t *testing.T) {
	inj := New("test", Config{ResetRate: 1})
	var hits atomic.Int64
	srv, client := newServer(t, inj, okHandler(&hits))
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequest(method, srv.URL+"/x", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: got %d, want a transport error", method, resp.StatusCode)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("handler ran %d times, want 0: a reset happens before it", hits.Load())
	}
	if got := inj.Stats().Injected[KindReset]; got != 2 {
		t.Errorf("Injected[reset] = %d, want 2", got)
	}
}

func TestDropReplyAppliesButFails(t *testing.T) {
	inj := New("test", Config{DropReplyRate: 1})
	var hits atomic.Int64
	srv, client := newServer(t, inj, okHandler(&hits))
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/photo/1", nil)
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want a transport error", resp.StatusCode)
	}
	if hits.Load() != 1 {
		t.Errorf("handler ran %d times, want 1: the request is applied, only its reply is lost", hits.Load())
	}
	st := inj.Stats()
	if st.Injected[KindDropReply] != 1 || st.Handled["DELETE /photo/1"] != 1 {
		t.Errorf("Stats = %+v, want one dropped reply and one handled request", st)
	}
}

func TestLatency(t *testing.T) {
	inj := New("test", Config{Latency: 50 * time.Millisecond})
	var hits atomic.Int64
	srv, client := newServer(t, inj, okHandler(&hits))
	start := time.Now()
	resp, err := client.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered in %v, want at least 50ms", d)
	}
}

func TestAdminHandler(t *testing.T) {
	inj := New("artifi", Config{ResetRate: 1}) // admin must work even when everything else is reset
	var hits atomic.Int64
	srv, client := newServer(t, inj, okHandler(&hits))

	do := func(method, body string) (int, adminState) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/_sim/faults", strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st adminState
		if resp.StatusCode == 200 {
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, st
	}

	code, st := do(http.MethodPut, `{"reset_rate":0,"error_rate":0.5,"latency":"10ms"}`)
	if code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	want := Config{ErrorRate: 0.5, Latency: 10 * time.Millisecond}
	if diff := cmp.Diff(want, inj.Config()); diff != "" {
		t.Errorf("Config after PUT (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(toWire(want), st.Config); diff != "" {
		t.Errorf("PUT answer (-want +got):\n%s", diff)
	}

	// A partial PUT keeps the other fields.
	if code, _ := do(http.MethodPut, `{"max_concurrent":4}`); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	want.MaxConcurrent = 4
	if diff := cmp.Diff(want, inj.Config()); diff != "" {
		t.Errorf("Config after partial PUT (-want +got):\n%s", diff)
	}

	for _, bad := range []string{`{"error_rate":1.5}`, `{"latency":"soon"}`, `{"nope":1}`, `[`} {
		if code, _ := do(http.MethodPut, bad); code != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, code)
		}
	}
	if diff := cmp.Diff(want, inj.Config()); diff != "" {
		t.Errorf("a rejected PUT changed the config (-want +got):\n%s", diff)
	}

	resp, err := client.Get(srv.URL + "/x")
	if err == nil {
		resp.Body.Close()
	}
	if _, st := do(http.MethodGet, ""); st.Stats.Requests["GET /x"] != 1 || st.Stats.Requests["GET /_sim/faults"] != 0 {
		t.Errorf("GET stats = %+v, want one request to /x and none counted for the admin path", st.Stats)
	}
	if _, st := do(http.MethodDelete, ""); len(st.Stats.Requests) != 0 {
		t.Errorf("after DELETE: %+v, want no counters", st.Stats)
	}
	if code, _ := do(http.MethodPost, "{}"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", code)
	}
}
