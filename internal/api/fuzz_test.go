package api

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
)

// checkOnly is an erasure service that validates a filing as the real one
// does and records nothing.
type checkOnly struct{ ErasureService }

func (checkOnly) File(_ context.Context, r erasure.Request) (erasure.Filed, error) {
	if err := (&erasuretasks.Queue{}).Check(r); err != nil {
		return erasure.Filed{}, err
	}
	return erasure.Filed{Record: erasure.Record{Request: r}}, nil
}

// FuzzFiling: whatever the body of POST /v1/erasures, the answer is 202 or a
// 4xx, always JSON, never a 5xx, and a 4xx names a field or says why; a
// body the strict decoder accepts holds exactly the members a filing has.
func FuzzFiling(f *testing.F) {
	f.Add([]byte(`{"request_id":"gdpr-1","user_id":"u-1","filed_by":"dpo-1","filed_at":"2026-11-20T09:00:00Z"}`))
	h := New(Params{Gatherer: prometheus.NewRegistry(), Log: zerolog.Nop(), Erasures: checkOnly{}})
	f.Fuzz(func(t *testing.T, body []byte) {
		var fl filing
		if err := decodeStrict(body, &fl); err == nil {
			again, _ := json.Marshal(fl)
			var fl2 filing
			if err := decodeStrict(again, &fl2); err != nil {
				t.Fatalf("%q accepted, its re-encoding %s refused: %v", body, again, err)
			}
		} else if !strings.Contains(err.Error(), ": ") {
			t.Fatalf("refusal of %q names no field: %v", body, err)
		}

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, local(httptest.NewRequest("POST", "/v1/erasures", strings.NewReader(string(body)))))
		if rec.Code >= 500 || rec.Header().Get("Content-Type") != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%q: %d %s %q", body, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		if rec.Code/100 == 4 {
			var e errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%q: error body %q", body, rec.Body)
			}
			if rec.Code == 400 && len(e.Fields) == 0 {
				t.Fatalf("%q: 400 naming no field: %q", body, rec.Body)
			}
			if len(e.Fields) > maxProblems {
				t.Fatalf("%q: %d problems listed", body, len(e.Fields))
			}
		}
	})
}
