package erasure

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// listStates are the states a listing can select. "needs_review" is
// named here as text so that a listing accepts it whichever workflow sets
// it.
var listStates = []Status{StatusQueued, StatusPlanning, StatusRunning, StatusVerifying, StatusDone, StatusFailed,
	StatusAwaitingApproval, StatusDenied, "needs_review"}

// ParseStates reads a listing's states: "all", "open", or states separated
// by commas ("done,failed").
func ParseStates(v string) (ListFilter, error) {
	var f ListFilter
	for s := range strings.SplitSeq(v, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "all":
			f.All = true
		case s == "open":
			for _, st := range listStates {
				if st.Open() && !slices.Contains(f.States, st) {
					f.States = append(f.States, st)
				}
			}
		case slices.Contains(listStates, Status(s)):
			f.States = append(f.States, Status(s))
		default:
			names := make([]string, len(listStates))
			for i, st := range listStates {
				names[i] = string(st)
			}
			return ListFilter{}, fmt.Errorf("unknown state %q (want all, open or %s)", s, strings.Join(names, ", "))
		}
	}
	return f, nil
}

// csvHeader is the header of WriteCSV: a spreadsheet's columns, stable.
var csvHeader = []string{"request_id", "user_id", "status", "filed_at", "filed_by", "due_at", "days_left", "at_risk",
	"extended", "approval", "approved_by", "finished_at", "steps_done", "steps_total", "receipt"}

// WriteCSV writes recs as CSV with csvHeader.
func WriteCSV(w io.Writer, recs []Record) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	for _, r := range recs {
		var decision, by string
		if r.Approval != nil {
			decision, by = r.Approval.Decision, r.Approval.By
			if decision == "" {
				decision = "awaiting"
			}
		}
		finished := ""
		if !r.State.FinishedAt.IsZero() {
			finished = r.State.FinishedAt.Format(time.RFC3339)
		}
		_ = cw.Write(cells(r.Request.ID, r.Request.UserID, string(r.State.Status), r.Request.FiledAt.Format(time.RFC3339),
			r.Request.FiledBy, r.DueAt.Format(time.RFC3339), strconv.Itoa(r.DaysLeft), strconv.FormatBool(r.AtRisk),
			strconv.FormatBool(r.Extension != nil), decision, by, finished, strconv.Itoa(r.StepsDone),
			strconv.Itoa(r.State.StepsTotal), r.ReceiptKey))
	}
	cw.Flush()
	return cw.Error()
}

// cells keeps a spreadsheet from reading a value as a formula: ids may
// start with - or @, which it would.
func cells(vs ...string) []string {
	for i, v := range vs {
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			vs[i] = "'" + v
		}
	}
	return vs
}
