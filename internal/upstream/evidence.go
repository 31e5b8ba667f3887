package upstream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// Evidence classes: what an upstream's answer proves. Done and Gone are the
// only classes an erasure may record as "deleted" or "already absent", and
// only when the row cites a seed.
const (
	ClassDone        = "done"
	ClassGone        = "gone"
	ClassRetry       = "retry"
	ClassPermanent   = "permanent"
	ClassUnconfirmed = "unconfirmed"
	// ClassRead is a read whose content (a listing, a photo, an avatar) is
	// itself the evidence.
	ClassRead = "read"
)

// Assumption is the Source of a row that no seed document supports.
const Assumption = "assumption"

// EvidenceRow is one answer of one upstream operation and what it counts as.
// Source is "seed NNN line L" (the file of /seeds and the line where the
// answer is shown) or Assumption. Example, when set, names the testdata file
// holding the seed's own example of the answer; a test checks each against
// the seed copy.
type EvidenceRow struct {
	Op      string // the client operation
	Status  int    // HTTP status; 0: any
	Code    string // the upstream's code ("227", "INVALID_DATA"), "" for none
	Shape   string // what the body looks like
	Class   string
	Source  string
	Quote   string // text the cited seed line holds
	Example string
}

// Documented reports whether the row rests on a seed.
func (r EvidenceRow) Documented() bool { return strings.HasPrefix(r.Source, "seed ") }

// Effective is the class an answer matching r is recorded as: a done or gone
// that rests on an assumption proves nothing, so it is unconfirmed.
func (r EvidenceRow) Effective() string {
	if (r.Class == ClassDone || r.Class == ClassGone) && !r.Documented() {
		return ClassUnconfirmed
	}
	return r.Class
}

// Lookup returns the first row of table for op (or "*") matching status (0
// matches any) and code.
func Lookup(table []EvidenceRow, op string, status int, code string) (EvidenceRow, bool) {
	for _, r := range table {
		if (r.Op == op || r.Op == "*") && (r.Status == 0 || status == 0 || r.Status == status) && r.Code == code {
			return r, true
		}
	}
	return EvidenceRow{}, false
}

// Apply wraps err in the errclass class of row's effective class. Retry and
// Throttled errors are classified by the caller (they carry a delay).
func Apply(row EvidenceRow, err error) error {
	switch row.Effective() {
	case ClassGone:
		return errclass.AsGone(err)
	case ClassPermanent:
		return errclass.AsPermanent(err)
	case ClassUnconfirmed:
		return errclass.AsUnconfirmed(fmt.Errorf("%w [evidence: %s]", err, row.Source))
	case ClassRetry:
		return errclass.RetryAfter(err, 0)
	}
	return err
}

// ErrIncomplete means a listing could not prove it saw everything.
var ErrIncomplete = fmt.Errorf("listing incomplete")

// AllPages reads every page of a listing and proves it complete: each page
// must report the total, the ids read must add up to exactly that total, and
// the page after the last must come back empty (pages until empty). Anything
// else (a page without its total, a page dropped, a total that changes, more
// ids than the total) is an unconfirmed error, never a short list: planning,
// verification, merges and sweeps act on what a listing leaves out.
func AllPages(ctx context.Context, what string, fetch func(ctx context.Context, page int) (PhotoPage, error)) ([]string, error) {
	seen := map[string]bool{}
	ids := []string{}
	total := -1
	for page := 1; ; page++ {
		p, err := fetch(ctx, page)
		if err != nil {
			return nil, err
		}
		if !p.Counted {
			return nil, errclass.AsUnconfirmed(fmt.Errorf("%s: %w: page %d has no total", what, ErrIncomplete, page))
		}
		if total >= 0 && p.AssetCount != total {
			return nil, errclass.AsUnconfirmed(fmt.Errorf("%s: %w: total changed from %d to %d at page %d", what, ErrIncomplete, total, p.AssetCount, page))
		}
		total = p.AssetCount
		if len(p.IDs) == 0 {
			if len(ids) != total {
				return nil, errclass.AsUnconfirmed(fmt.Errorf("%s: %w: pages ended at page %d with %d of %d ids", what, ErrIncomplete, page, len(ids), total))
			}
			return ids, nil
		}
		for _, id := range p.IDs {
			if seen[id] {
				return nil, errclass.AsUnconfirmed(fmt.Errorf("%s: %w: id seen twice (page %d)", what, ErrIncomplete, page))
			}
			seen[id] = true
			ids = append(ids, id)
		}
		if len(ids) > total {
			return nil, errclass.AsUnconfirmed(fmt.Errorf("%s: %w: %d ids read, total says %d", what, ErrIncomplete, len(ids), total))
		}
		if page > 100000 {
			return nil, errclass.AsUnconfirmed(fmt.Errorf("%s: %w: too many pages", what, ErrIncomplete))
		}
	}
}

// CheckCitations returns what is wrong with the seed citations of table:
// every row citing "seed NNN line L" must name a line of the seed file
// NNN_*.txt in seedDir that holds the row's Quote. Tests run it against the
// testdata copies of the seeds.
func CheckCitations(table []EvidenceRow, seedDir string) []string {
	var bad []string
	for _, r := range table {
		if !r.Documented() {
			if r.Source != Assumption {
				bad = append(bad, fmt.Sprintf("%s %d %s: source %q is neither a seed nor %q", r.Op, r.Status, r.Code, r.Source, Assumption))
			}
			continue
		}
		var file string
		var line int
		if _, err := fmt.Sscanf(r.Source, "seed %s line %d", &file, &line); err != nil || r.Quote == "" {
			bad = append(bad, fmt.Sprintf("%s %s: unreadable source %q or no quote", r.Op, r.Code, r.Source))
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(seedDir, file+"_*.txt"))
		if len(matches) != 1 {
			bad = append(bad, fmt.Sprintf("%s %s: no seed file %s in %s", r.Op, r.Code, file, seedDir))
			continue
		}
		b, err := os.ReadFile(matches[0])
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		lines := strings.Split(strings.ReplaceAll(string(b), "\u00a0", " "), "\n")
		if line < 1 || line > len(lines) || !strings.Contains(lines[line-1], r.Quote) {
			bad = append(bad, fmt.Sprintf("%s %s: seed %s line %d does not hold %q", r.Op, r.Code, file, line, r.Quote))
		}
	}
	return bad
}
