// Package faults is the fault-injection middleware that every upstream
// simulator (Artifi, Zoho Bigin, IBM BPM) wraps its handler with, so that the
// clients and the retry machinery can be exercised against the failures real
// upstreams produce: slowness, 5xx, 429 with Retry-After, reset connections,
// replies lost after the server applied the request, and a per-account
// concurrency cap.
//
// Faults decided before the handler (errors, throttling, resets, the
// concurrency cap) leave the simulator's state untouched, exactly like a
// proxy or a load balancer refusing a request. Only DropReply lets the
// request through and then loses the answer: that is the case that makes
// idempotency matter.
//
// The configuration can be changed while the simulator runs, from Go (Set)
// or over HTTP (AdminHandler, mounted by the simulators at /_sim/faults).
// Paths under /_sim/ are never injected, so the admin endpoints keep working
// whatever the configuration.
//
// A note for tests: Go's http.Transport silently resends a replayable request
// (GET, HEAD, or one with an Idempotency-Key) once when a reused keep-alive
// connection dies before any response byte arrives. A reset or dropped reply
// on such a request can therefore reach the client as the answer to a second
// attempt rather than as an error. Tests that need to see the transport error
// itself use a client without keep-alives.
package faults

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AdminPrefix is the path prefix the simulators serve their control endpoints
// under; requests below it are never injected.
const AdminPrefix = "/_sim/"

// Config is what to inject. Rates are shares of requests in [0, 1]; the four
// rates are drawn from one uniform number, so their sum should not exceed 1
// (anything beyond 1 is simply never reached).
type Config struct {
	Latency       time.Duration // added to every request
	ErrorRate     float64       // answered 500/502/503 before reaching the handler
	ThrottleRate  float64       // answered 429 with Retry-After before reaching the handler
	RetryAfter    time.Duration // value sent with 429, whole seconds; 0 sends "1"
	ResetRate     float64       // connection closed without a response, before the handler
	DropReplyRate float64       // handler runs (state changes) but the reply is lost
	MaxConcurrent int           // >0: requests beyond this many in the handler get 429
	Seed          int64         // non-zero: deterministic draws
	// Lies are the lying-upstream modes switched on: answers a real upstream
	// may give that are well-formed but wrong (a 227 for a user that exists,
	// a delete that answers success and deletes nothing...). Each simulator
	// documents the modes it knows (its Lie constants); the erasure, merge
	// and sweep must never take them for proof.
	Lies []string
}

// Lying reports whether the lying mode is on.
func (i *Injector) Lying(mode string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Contains(i.cfg.Lies, mode)
}

// Kind names one kind of injected fault, as counted in Stats.Injected.
type Kind string

const (
	KindError       Kind = "error"
	KindThrottle    Kind = "throttle"
	KindReset       Kind = "reset"
	KindDropReply   Kind = "drop_reply"
	KindConcurrency Kind = "concurrency" // 429 because MaxConcurrent was reached
)

// Stats are the injector's counters since New or the last Reset. Endpoints
// are "METHOD /path" without the query string.
type Stats struct {
	Requests       map[string]int64 `json:"requests"` // every request seen
	Handled        map[string]int64 `json:"handled"`  // requests that reached the simulator's logic
	Injected       map[Kind]int64   `json:"injected"`
	PeakConcurrent int              `json:"peak_concurrent"` // most requests in the handler at once
	InFlight       int              `json:"in_flight"`       // requests in the handler now
}

// Injector applies a Config to the handlers it wraps. It is safe for
// concurrent use; one Injector serves one simulator.
type Injector struct {
	name string

	mu       sync.Mutex
	cfg      Config
	rng      *rand.Rand
	requests map[string]int64
	handled  map[string]int64
	injected map[Kind]int64
	inFlight int
	peak     int
}

// New returns an injector named after the system it simulates (the name is
// sent in the X-Sim-Fault header of injected answers, to tell them apart from
// the simulator's own).
func New(name string, cfg Config) *Injector {
	i := &Injector{name: name}
	i.Set(cfg)
	i.Reset()
	return i
}

// Set replaces the configuration. A new non-zero Seed restarts the draws.
func (i *Injector) Set(cfg Config) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.rng == nil || cfg.Seed != i.cfg.Seed {
		i.rng = newRand(cfg.Seed)
	}
	i.cfg = cfg
}

func newRand(seed int64) *rand.Rand {
	if seed == 0 {
		return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
}

// Config returns the configuration in force.
func (i *Injector) Config() Config {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.cfg
}

// Stats returns a copy of the counters.
func (i *Injector) Stats() Stats {
	i.mu.Lock()
	defer i.mu.Unlock()
	s := Stats{
		Requests:       make(map[string]int64, len(i.requests)),
		Handled:        make(map[string]int64, len(i.handled)),
		Injected:       make(map[Kind]int64, len(i.injected)),
		PeakConcurrent: i.peak,
		InFlight:       i.inFlight,
	}
	for k, v := range i.requests {
		s.Requests[k] = v
	}
	for k, v := range i.handled {
		s.Handled[k] = v
	}
	for k, v := range i.injected {
		s.Injected[k] = v
	}
	return s
}

// Reset sets the counters to zero. InFlight is not a counter and stays; the
// peak restarts from it.
func (i *Injector) Reset() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.requests = map[string]int64{}
	i.handled = map[string]int64{}
	i.injected = map[Kind]int64{}
	i.peak = i.inFlight
}

// Endpoint is the key Stats uses for r: method and path, no query.
func Endpoint(r *http.Request) string { return r.Method + " " + r.URL.Path }

// decision is what happens to one request, drawn under the lock so that a
// seeded injector gives the same sequence of decisions for the same sequence
// of requests.
type decision struct {
	kind   Kind // "" : pass to the handler
	status int  // for KindError
	cfg    Config
}

func (i *Injector) decide(endpoint string) decision {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.requests[endpoint]++
	d := decision{cfg: i.cfg}
	c := i.cfg
	u := i.rng.Float64()
	switch {
	case u < c.ResetRate:
		d.kind = KindReset
	case u < c.ResetRate+c.ErrorRate:
		d.kind = KindError
		d.status = [...]int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[i.rng.IntN(3)]
	case u < c.ResetRate+c.ErrorRate+c.ThrottleRate:
		d.kind = KindThrottle
	case u < c.ResetRate+c.ErrorRate+c.ThrottleRate+c.DropReplyRate:
		d.kind = KindDropReply
	}
	if d.kind != "" && d.kind != KindDropReply {
		i.injected[d.kind]++
	}
	return d
}

// enter takes a handler slot, or reports that MaxConcurrent is reached.
func (i *Injector) enter(endpoint string, limit int) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if limit > 0 && i.inFlight >= limit {
		i.injected[KindConcurrency]++
		return false
	}
	i.inFlight++
	i.peak = max(i.peak, i.inFlight)
	i.handled[endpoint]++
	return true
}

func (i *Injector) leave(dropped bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.inFlight--
	if dropped {
		i.injected[KindDropReply]++
	}
}

// Wrap returns h with faults injected in front of it. Requests under
// AdminPrefix go straight to h.
func (i *Injector) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, AdminPrefix) {
			h.ServeHTTP(w, r)
			return
		}
		ep := Endpoint(r)
		d := i.decide(ep)
		if d.kind != "" && d.kind != KindDropReply {
			if !sleep(r.Context(), d.cfg.Latency) {
				return
			}
			switch d.kind {
			case KindReset:
				abort(w)
			case KindError:
				w.Header().Set("X-Sim-Fault", i.name+" "+string(d.kind))
				http.Error(w, http.StatusText(d.status), d.status)
			case KindThrottle:
				i.throttle(w, d.cfg, KindThrottle)
			}
			return
		}
		if !i.enter(ep, d.cfg.MaxConcurrent) {
			i.throttle(w, d.cfg, KindConcurrency)
			return
		}
		dropped, left := d.kind == KindDropReply, false
		defer func() {
			if !left {
				i.leave(false)
			}
		}()
		// The latency is spent holding the slot: it stands for the upstream's
		// processing time, which is what a concurrency cap is about.
		if !sleep(r.Context(), d.cfg.Latency) {
			return
		}
		if !dropped {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(discard{header: http.Header{}}, r.WithContext(context.WithValue(r.Context(), droppedKey{}, true)))
		// Counted before the connection is cut: a client that has seen the
		// cut must see it in Stats too.
		left = true
		i.leave(true)
		abort(w)
	})
}

type droppedKey struct{}

// Dropped reports whether the request of ctx (a handler's r.Context()) is
// one whose reply the injector will lose: a simulator counting calls per
// item tells the repeats a lost reply explains from those it does not.
func Dropped(ctx context.Context) bool {
	d, _ := ctx.Value(droppedKey{}).(bool)
	return d
}

func (i *Injector) throttle(w http.ResponseWriter, cfg Config, k Kind) {
	secs := int64(cfg.RetryAfter / time.Second)
	if secs <= 0 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	w.Header().Set("X-Sim-Fault", i.name+" "+string(k))
	http.Error(w, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
}

// sleep waits d, or less if the client goes away (then it reports false).
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// abort closes the connection without a response. A hijacked TCP connection
// is closed with linger 0 so that the client sees a reset, not a tidy EOF;
// where hijacking is not possible (HTTP/2) the server's ErrAbortHandler
// resets the stream.
func abort(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// discard is the ResponseWriter a dropped reply is written to.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
