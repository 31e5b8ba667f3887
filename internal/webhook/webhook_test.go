package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/handlers"
	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/webhook"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// receiver is a webhook receiver that is down for its first failures
// attempts: a 503, then a dropped connection.
type receiver struct {
	mu       sync.Mutex
	attempts int
	failures int
	got      []string // event ids of the accepted notifications
	bad      []string // why a notification was refused
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.attempts++
	switch {
	case rv.attempts == 1 && rv.failures >= 1:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case rv.attempts == 2 && rv.failures >= 2:
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // the receiver's process died mid-request
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Now()); err != nil {
		rv.bad = append(rv.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rv.got = append(rv.got, r.Header.Get(webhook.EventIDHeader))
}

const secret = "0123456789abcdef-webhook-test"

// TestDeliveredOnceAfterOutage is acceptance point 5: each notification
// reaches the receiver once, validly signed, although the receiver was
// down for the first two attempts of each.
func TestDeliveredOnceAfterOutage(t *testing.T) {
	rv := &receiver{failures: 2}
	srv := httptest.NewServer(rv)
	defer srv.Close()

	opt := testutil.AsynqRedis(t)
	client := tasks.NewClient(opt)
	defer client.Close()
	in := testutil.Inspector(t, opt)

	worker := asynq.NewServer(opt, asynq.Config{
		Concurrency: 2, Queues: map[string]int{tasks.QueueWebhook: 1},
		// The policy's backoff is seconds; the test's receiver is back at once.
		RetryDelayFunc:    func(int, error, *asynq.Task) time.Duration { return 20 * time.Millisecond },
		TaskCheckInterval: 10 * time.Millisecond,
		Logger:            nopLogger{},
	})
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeWebhookDeliver, &handlers.WebhookDeliver{Sender: &webhook.Sender{URL: srv.URL, Secret: []byte(secret)}})
	if err := worker.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer worker.Shutdown()

	n := &webhook.Notifier{Tasks: client}
	ctx := context.Background()
	var ids []string
	for _, ev := range []string{tasks.WebhookErasureDone, tasks.WebhookErasureDone} { // the second is a repeat
		if err := n.Notify(ctx, ev, "gdpr-7"); err != nil {
			t.Fatal(err)
		}
	}
	p := tasks.WebhookDeliverPayload{Event: tasks.WebhookErasureDone, RequestID: "gdpr-7"}
	ids = append(ids, p.TaskID())
	info := testutil.WaitTask(t, in, tasks.QueueWebhook, p.TaskID(), asynq.TaskStateCompleted, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // a stray second delivery would land meanwhile

	rv.mu.Lock()
	defer rv.mu.Unlock()
	if diff := cmp.Diff(ids, rv.got); diff != "" {
		t.Errorf("notifications accepted (-want +got):\n%s", diff)
	}
	if len(rv.bad) > 0 {
		t.Errorf("badly signed: %v", rv.bad)
	}
	if rv.attempts != 3 || info.Retried != 2 {
		t.Errorf("attempts %d (retried %d), want 3: two while down, one delivery", rv.attempts, info.Retried)
	}
}

func TestSendClassifies(t *testing.T) {
	tests := []struct {
		status    int
		wantRetry bool
	}{
		{200, false}, {204, false}, {500, true}, {503, true}, {429, true}, {408, true}, {400, false}, {404, false},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.status) }))
		err := (&webhook.Sender{URL: srv.URL, Secret: []byte(secret)}).Send(context.Background(), "id",
			tasks.WebhookDeliverPayload{Event: tasks.WebhookErasureFailed, RequestID: "r", OccurredAt: time.Now()})
		srv.Close()
		ok := tt.status < 300
		if ok != (err == nil) {
			t.Errorf("%d: err %v", tt.status, err)
			continue
		}
		if err != nil && tt.wantRetry == isPermanent(err) {
			t.Errorf("%d: %v, want retry %v", tt.status, err, tt.wantRetry)
		}
	}
}

func TestVerifyRefusesTamperingAndReplay(t *testing.T) {
	body := []byte(`{"event":"erasure.done"}`)
	now := time.Unix(1_800_000_000, 0)
	sig := webhook.Sign([]byte(secret), now, body)
	if err := webhook.Verify([]byte(secret), sig, body, now.Add(time.Minute)); err != nil {
		t.Errorf("valid signature refused: %v", err)
	}
	for name, check := range map[string]error{
		"other body":    webhook.Verify([]byte(secret), sig, []byte(`{"event":"erasure.failed"}`), now),
		"other secret":  webhook.Verify([]byte("another-secret-0123"), sig, body, now),
		"replayed late": webhook.Verify([]byte(secret), sig, body, now.Add(webhook.MaxAge+time.Second)),
		"no timestamp":  webhook.Verify([]byte(secret), "v1=00", body, now),
	} {
		if check == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

type nopLogger struct{}

func (nopLogger) Debug(...any) {}
func (nopLogger) Info(...any)  {}
func (nopLogger) Warn(...any)  {}
func (nopLogger) Error(...any) {}
func (nopLogger) Fatal(...any) {}

func isPermanent(err error) bool { return errclass.Of(err) == errclass.Permanent }
