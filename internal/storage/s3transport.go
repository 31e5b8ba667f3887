package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// ErrStalled is returned (wrapped, retryable) by the calls an S3 store
// fails at once because the server stopped answering: its last request
// outlived the timeout, and the one request that checks whether it answers
// again is still out. Without this, every task that uses storage would wait
// out a timeout of its own, and a stalled store would still hold most
// worker slots.
var ErrStalled = errors.New("store not answering")

// deadlineTransport gives every request to the store a deadline of its own,
// from sending it to closing its answer: one page of a listing, one batch of
// deletions, one part of an upload. The time a caller spends between two
// requests (moving the objects of one page, say) does not count.
//
// Once a request has gone unanswered past its deadline, the store is
// stalled: one request at a time (the probe) goes to the server, the others
// fail at once with ErrStalled, until a request is answered.
type deadlineTransport struct {
	next     http.RoundTripper
	timeout  time.Duration
	endpoint string

	mu      sync.Mutex
	since   time.Time // when the store stalled; zero while it answers
	probing bool
}

func (t *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	probe, err := t.admit()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	t.record(probe, err == nil, err != nil && ctx.Err() != nil && req.Context().Err() == nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// admit lets a request through, as the probe if the store is stalled, or
// says why not.
func (t *deadlineTransport) admit() (probe bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.since.IsZero():
		return false, nil
	case !t.probing:
		t.probing = true
		return true, nil
	}
	return false, t.stalled()
}

// refusal is the error of a request that would not be let through now, or
// nil: the store is stalled and its probe is out.
func (t *deadlineTransport) refusal() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.since.IsZero() || !t.probing {
		return nil
	}
	return t.stalled()
}

func (t *deadlineTransport) stalled() error {
	return fmt.Errorf("%s has not answered within %v since %s: %w",
		t.endpoint, t.timeout, t.since.UTC().Format(time.RFC3339), ErrStalled)
}

// record learns from a request's end: an answer ends a stall, a request
// that outlived its deadline starts one.
func (t *deadlineTransport) record(probe, answered, timedOut bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if probe {
		t.probing = false
	}
	switch {
	case answered:
		t.since = time.Time{}
	case timedOut && t.since.IsZero():
		t.since = time.Now()
	}
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
