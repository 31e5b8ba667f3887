package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/audit"
)

// auditRoutes adds GET /v1/audit: the audit trail Redis keeps, oldest
// first, by ?since=RFC3339, ?subject=ID and ?limit=N (at most 10,000).
func auditRoutes(rt *router, p Params) {
	rt.handle("GET", "/v1/audit", apitoken.ScopeAdmin, func(w http.ResponseWriter, r *http.Request) {
		var f audit.Filter
		q := r.URL.Query()
		if v := q.Get("since"); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, p.Log, problem("since", "want RFC 3339 such as 2026-01-31T10:00:00Z"))
				return
			}
			f.Since = at
		}
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10_000 {
				writeError(w, p.Log, problem("limit", "want 1 to 10000"))
				return
			}
			f.Limit = n
		}
		f.Subject = q.Get("subject")
		entries, err := p.Audit.List(r.Context(), f)
		if err != nil {
			writeError(w, p.Log, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	})
}
