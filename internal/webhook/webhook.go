// Package webhook tells the privacy team's systems about erasure requests:
// a signed POST to one configured URL when a request is done, failed,
// needs review or is at risk of missing its deadline.
//
// Each notification is a JSON body
//
//	{"id":"<task id>","event":"erasure.done","request_id":"gdpr-9",
//	 "occurred_at":"2026-12-01T10:00:00Z","status_url":"/v1/erasures/gdpr-9"}
//
// sent with the headers
//
//	Content-Type:        application/json
//	Lifecycle-Event-Id:  the id (the same on every retry: deduplicate by it)
//	Lifecycle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// where v1 is the HMAC-SHA256, keyed by LIFECYCLE_WEBHOOK_SECRET, of the
// timestamp, a '.', and the body exactly as received. A receiver recomputes
// it, compares in constant time, and refuses a timestamp more than five
// minutes old, which stops a captured notification from being replayed.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Header names.
const (
	SignatureHeader = "Lifecycle-Signature"
	EventIDHeader   = "Lifecycle-Event-Id"
)

// MaxAge is how old a signature's timestamp a receiver should accept.
const MaxAge = 5 * time.Minute

// Sign returns the Lifecycle-Signature header value of body sent at at.
func Sign(secret []byte, at time.Time, body []byte) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Lifecycle-Signature header against body as a receiver
// does: a valid HMAC and a timestamp within MaxAge of now.
func Verify(secret []byte, header string, body []byte, now time.Time) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook: signature without a timestamp")
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(secret, ts, body)) {
		return errors.New("webhook: signature does not match")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxAge || d < -MaxAge {
		return fmt.Errorf("webhook: timestamp %v away from now", d)
	}
	return nil
}

// Body is what a notification posts.
type Body struct {
	ID         string    `json:"id"`
	Event      string    `json:"event"`
	RequestID  string    `json:"request_id"`
	OccurredAt time.Time `json:"occurred_at"`
	StatusURL  string    `json:"status_url"`
}

// Sender posts notifications.
type Sender struct {
	URL    string
	Secret []byte
	HTTP   *http.Client // nil: one with a 10 s timeout
	Now    func() time.Time
}

// Send posts p, signed, as notification id. Its error is classified: a
// receiver that is down, slow or overloaded (connection errors, 5xx, 408,
// 429) is retried; one that refuses the notification (any other 4xx) will
// refuse it again, so the notification is dead-lettered at once.
func (s *Sender) Send(ctx context.Context, id string, p tasks.WebhookDeliverPayload) error {
	body, err := json.Marshal(Body{ID: id, Event: p.Event, RequestID: p.RequestID, OccurredAt: p.OccurredAt.UTC(), StatusURL: "/v1/erasures/" + p.RequestID})
	if err != nil {
		return errclass.AsPermanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return errclass.AsPermanent(fmt.Errorf("webhook: %w", err))
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(EventIDHeader, id)
	req.Header.Set(SignatureHeader, Sign(s.Secret, now(), body))
	c := s.HTTP
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return fmt.Errorf("webhook: receiver answered %d", code)
	default:
		return errclass.AsPermanent(fmt.Errorf("webhook: receiver refused the notification: %d", code))
	}
}

// Enqueuer enqueues deliveries (*tasks.Client).
type Enqueuer interface {
	EnqueueWebhookDeliver(ctx context.Context, p tasks.WebhookDeliverPayload) (tasks.Result, error)
}

// Notifier turns events into delivery tasks, one per event and request.
type Notifier struct {
	Tasks Enqueuer
	Now   func() time.Time
}

// Notify enqueues the notification of event about request id.
func (n *Notifier) Notify(ctx context.Context, event, id string) error {
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	_, err := n.Tasks.EnqueueWebhookDeliver(ctx, tasks.WebhookDeliverPayload{Event: event, RequestID: id, OccurredAt: now().UTC().Truncate(time.Second)})
	return err
}
