// Package upstream holds what every upstream client (Artifi, Zoho Bigin,
// IBM BPM) shares: the HTTP client they are built on, the limiter that bounds
// their concurrency across processes, and the reading of HTTP-level failures
// (status codes, Retry-After) into errclass classes. System-specific bodies
// and codes are decoded by each client's own package.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// Defaults for every client; a client's Config may override them.
const (
	TimeoutDefault  = 30 * time.Second
	MaxConnsDefault = 16
)

// PhotoPage is one page of a user's photos as an upstream lists them. The
// total is what tells a complete listing from a short one.
type PhotoPage struct {
	AssetCount int      // the user's photos in total, every page together
	Counted    bool     // the page reported AssetCount (a missing total proves nothing)
	IDs        []string // the photo ids on this page
}

// PhotoPageSizeDefault is how many photos one listing page asks for.
const PhotoPageSizeDefault = 100

// Limiter bounds concurrent calls to one upstream system. Acquire blocks until
// a slot is free or ctx ends; release must be called exactly once.
type Limiter interface {
	Acquire(ctx context.Context) (release func(), err error)
}

// NoLimit is a Limiter that never waits.
type NoLimit struct{}

func (NoLimit) Acquire(context.Context) (func(), error) { return func() {}, nil }

// NewHTTPClient returns a client with a request timeout and a bounded
// connection pool, so that a slow upstream cannot pile up sockets.
func NewHTTPClient(timeout time.Duration, maxConns int) *http.Client {
	if timeout <= 0 {
		timeout = TimeoutDefault
	}
	if maxConns <= 0 {
		maxConns = MaxConnsDefault
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = maxConns
	tr.MaxIdleConnsPerHost = maxConns
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{Timeout: timeout, Transport: traced(tr)}
}

// traced wraps base with otelhttp: a client span per request, in the trace
// of the request's context, whose traceparent goes upstream too. otelhttp
// records the request's URL, which here can hold a secret (Artifi's key is a
// query parameter) or a person's name (an IBM BPM user in the path); the
// span sees scheme and host only, and base gets the request as made.
func traced(base http.RoundTripper) http.RoundTripper {
	inner := otelhttp.NewTransport(restoreURL{base},
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + r.Method }))
	return hideURL{inner}
}

type origURLKey struct{}

// hideURL hands on a copy of the request whose URL is scheme://host/ only.
type hideURL struct{ next http.RoundTripper }

func (h hideURL) RoundTrip(r *http.Request) (*http.Response, error) {
	c := r.Clone(context.WithValue(r.Context(), origURLKey{}, r.URL))
	c.URL = &url.URL{Scheme: r.URL.Scheme, Host: r.URL.Host, Path: "/"}
	return h.next.RoundTrip(c)
}

// restoreURL puts back the URL that hideURL hid.
type restoreURL struct{ next http.RoundTripper }

func (u restoreURL) RoundTrip(r *http.Request) (*http.Response, error) {
	if orig, ok := r.Context().Value(origURLKey{}).(*url.URL); ok {
		r = r.Clone(r.Context())
		r.URL = orig
	}
	return u.next.RoundTrip(r)
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(h); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// ClassifyStatus turns an HTTP status that the system-specific decoding did
// not explain into a classified error: 429 is throttling (with its
// Retry-After), 5xx and 408 are retryable, other 4xx are permanent (our
// request is wrong, repeating it will not help).
func ClassifyStatus(err error, resp *http.Response, now time.Time) error {
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return errclass.Throttled(err, ParseRetryAfter(resp.Header.Get("Retry-After"), now))
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return errclass.RetryAfter(err, ParseRetryAfter(resp.Header.Get("Retry-After"), now))
	case resp.StatusCode >= 400:
		return errclass.AsPermanent(err)
	}
	return err
}

// ClassifyTransport classifies an error from http.Client.Do: the caller's own
// cancellation is passed through unchanged, everything else (resets, refused
// connections, timeouts) is retryable.
func ClassifyTransport(ctx context.Context, system string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%s: timeout: %w", system, err)
	}
	return fmt.Errorf("%s: transport: %w", system, err)
}
