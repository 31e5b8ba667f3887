package erasure

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
)

// fakeArtifi keeps photos per user and counts delete calls per photo.
type fakeArtifi struct {
	mu      sync.Mutex
	photos  map[string][]string
	designs map[string]bool
	deletes map[string]int
	onDel   func(n int) // called after each photo delete, with the running total
	total   int
}

func (f *fakeArtifi) AllUserPhotoIDs(_ context.Context, u string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.photos[u]...), nil
}

func (f *fakeArtifi) DeleteUserPhotoV4(_ context.Context, u, p string) error {
	f.mu.Lock()
	f.deletes[p]++
	f.total++
	n := f.total
	idx := -1
	for i, x := range f.photos[u] {
		if x == p {
			idx = i
		}
	}
	if idx >= 0 {
		f.photos[u] = append(f.photos[u][:idx], f.photos[u][idx+1:]...)
	}
	f.mu.Unlock()
	if f.onDel != nil {
		f.onDel(n)
	}
	if idx < 0 {
		return errclass.AsGone(errors.New("327"))
	}
	return nil
}

func (f *fakeArtifi) DeleteDesignsByUserID(_ context.Context, u string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.designs[u] {
		return errclass.AsGone(errors.New("227"))
	}
	delete(f.designs, u)
	return nil
}

type fakeBigin struct {
	mu     sync.Mutex
	photos map[string]bool
	err    error
}

func (f *fakeBigin) DeleteRecordPhoto(_ context.Context, m, r string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if !f.photos[m+"/"+r] {
		return errclass.AsGone(errors.New("204"))
	}
	delete(f.photos, m+"/"+r)
	return nil
}

func (f *fakeBigin) HasRecordPhoto(_ context.Context, m, r string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.photos[m+"/"+r], nil
}

type fakeBPM struct {
	custom map[string]bool
	err    error
}

func (f *fakeBPM) DeleteAvatar(_ context.Context, u string) error {
	if f.err != nil {
		return f.err
	}
	if !f.custom[u] {
		return errclass.AsGone(errors.New("default"))
	}
	delete(f.custom, u)
	return nil
}

func (f *fakeBPM) AvatarIsDefault(_ context.Context, u string) (bool, error) {
	return !f.custom[u], nil
}

type bundle struct {
	ex     *Executor
	artifi *fakeArtifi
	bigin  *fakeBigin
	bpm    *fakeBPM
	store  storage.Store
	ids    *identity.Store
	queue  *fakeQueue
	req    Request
	now    time.Time
}

// key signs the receipts of these tests; pubKeys checks them.
var (
	key     = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	pubKeys = PublicKeys{KeyID(key.Public().(ed25519.PublicKey)): key.Public().(ed25519.PublicKey)}
)

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	_, rdb := testutil.Redis(t)
	st, _ := testutil.FileStore(t)
	b := &bundle{
		artifi: &fakeArtifi{photos: map[string][]string{}, designs: map[string]bool{"u-1": true, "g-1": true}, deletes: map[string]int{}},
		bigin:  &fakeBigin{photos: map[string]bool{"Contacts/11": true, "Accounts/12": true}},
		bpm:    &fakeBPM{custom: map[string]bool{"jdoe": true}},
		store:  st,
		ids:    identity.New(rdb),
		queue:  &fakeQueue{},
		now:    time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
	for i := range 30 {
		b.artifi.photos["u-1"] = append(b.artifi.photos["u-1"], fmt.Sprint(1000+i))
	}
	for i := range 5 {
		b.artifi.photos["g-1"] = append(b.artifi.photos["g-1"], fmt.Sprint(2000+i))
	}
	for i := range 25 {
		testutil.PutObjects(t, st, fmt.Sprintf("users/u-1/photos/%03d.jpg", i))
	}
	testutil.PutObjects(t, st, "users/g-1/cart.json",
		"users/u-10/keep.jpg") // a neighbour whose prefix starts alike
	if err := b.ids.RecordMerge(ctx, "g-1", "u-1"); err != nil {
		t.Fatal(err)
	}
	es := NewStore(rdb)
	es.Now = func() time.Time { return b.now }
	b.ex = &Executor{
		Store: es, Locks: userlock.New(rdb, time.Minute), Queue: b.queue,
		Artifi: b.artifi, Bigin: b.bigin, BPM: b.bpm, Objects: st,
		Aliases: b.ids.Aliases, Tombstone: b.ids.SetTombstone, ReceiptKey: key,
		StorageBatch: 4, Log: zerolog.Nop(), Own: NopOwnCopies(),
	}
	b.req = Request{ID: "req-1", UserID: "u-1", BPMUser: "jdoe", FiledBy: "dpo-7", FiledAt: b.now.Add(-48 * time.Hour),
		Bigin: []BiginRecord{{Module: "Contacts", RecordID: "11"}, {Module: "Accounts", RecordID: "12"}}}
	if _, err := es.Create(ctx, b.req); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bundle) receipt(t *testing.T) (Receipt, []byte) {
	t.Helper()
	rc, err := b.store.Get(context.Background(), skeys.Receipt(b.req.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	doc, _ := io.ReadAll(rc)
	var r Receipt
	if err := json.Unmarshal(doc, &r); err != nil {
		t.Fatal(err)
	}
	return r, doc
}

var wantSystems = []SystemSummary{
	// Two cart-and-activity steps (the user and the guest), unconfirmed.
	{System: SystemArtifi, Steps: 39, Deleted: 37, Unconfirmed: 2, Count: 37},
	{System: SystemBigin, Steps: 2, Deleted: 2, Count: 2},
	{System: SystemIBMBPM, Steps: 1, Deleted: 1, Count: 1},
	// Of ours, only the records of the merge of g-1 into u-1 (u-1's
	// aliases, g-1's merged-into).
	{System: SystemOwn, Steps: 4, Deleted: 1, AlreadyAbsent: 3, Count: 2},
	// The versions steps of a file store find nothing: it keeps no versions.
	{System: SystemStorage, Steps: 4, Deleted: 2, AlreadyAbsent: 2, Count: 26},
}

func TestEraseEverythingAndSignReceipt(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	out, err := b.ex.Run(ctx, b.req, 0, time.Now().Add(time.Minute))
	if err != nil || out != Finished {
		t.Fatalf("Run = %v, %v; want finished", out, err)
	}
	r, doc := b.receipt(t)
	if diff := cmp.Diff(wantSystems, r.Systems); diff != "" {
		t.Errorf("receipt systems (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"u-1", "g-1"}, r.Subjects); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	if _, _, err := Verify(doc, pubKeys); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if bytes.Contains(doc, []byte("jdoe")) {
		t.Error("receipt holds the BPM user name")
	}
	for _, id := range []string{"u-1", "g-1"} {
		if _, ok, _ := b.ids.Tombstoned(ctx, id); !ok {
			t.Errorf("%s not tombstoned", id)
		}
	}
	if _, err := b.store.Stat(ctx, "users/u-10/keep.jpg"); err != nil {
		t.Errorf("neighbour's object: %v", err)
	}
	rec, _ := b.ex.Store.Get(ctx, b.req.ID)
	if rec.State.Status != StatusDone || rec.StepsDone != 50 {
		t.Errorf("status %s with %d steps done, want done with 50", rec.State.Status, rec.StepsDone)
	}
	if open, _ := b.ex.Store.Open(ctx); len(open) != 0 {
		t.Errorf("%d open requests after done", len(open))
	}
}

// TestStoppingWorkerPausesAtTheCheckpoint: when the worker begins to shut
// down, a slice starts no new call, lets the calls in flight finish and
// pauses; the next slice repeats none of them.
func TestStoppingWorkerPausesAtTheCheckpoint(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	stopping := make(chan struct{})
	b.ex.Stopping = stopping
	var once sync.Once
	b.artifi.onDel = func(n int) {
		if n == 5 {
			once.Do(func() { close(stopping) })
		}
	}
	out, err := b.ex.Run(ctx, b.req, 0, time.Now().Add(time.Hour))
	if err != nil || out != Paused {
		t.Fatalf("slice of a stopping worker = %v, %v; want paused", out, err)
	}
	b.artifi.mu.Lock()
	before := b.artifi.total
	b.artifi.mu.Unlock()
	// 35 photos; after the 5th, only the calls already running may end.
	inFlight := max(b.ex.Limits[SystemArtifi], LimitsDefault[SystemArtifi], 1)
	if limit := 5 + inFlight; before > limit {
		t.Errorf("%d photo deletions by the stopping slice, want at most %d", before, limit)
	}

	b.ex.Stopping, b.artifi.onDel = nil, nil
	if out, err := b.ex.Run(ctx, b.req, 1, time.Now().Add(time.Hour)); err != nil || out != Finished {
		t.Fatalf("next slice = %v, %v; want finished", out, err)
	}
	for p, n := range b.artifi.deletes {
		if n != 1 {
			t.Errorf("photo %s deleted %d times", p, n)
		}
	}
	if r, _ := b.receipt(t); !cmp.Equal(wantSystems, r.Systems) {
		t.Errorf("receipt systems (-want +got):\n%s", cmp.Diff(wantSystems, r.Systems))
	}
}

// TestResumeNeverRepeatsACheckpointedStep: a slice whose budget runs out
// midway is followed by another; every photo is deleted once.
func TestResumeNeverRepeatsACheckpointedStep(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	var mu sync.Mutex
	clock := time.Now()
	b.ex.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	b.artifi.onDel = func(n int) {
		if n == 10 {
			mu.Lock()
			clock = clock.Add(time.Hour)
			mu.Unlock()
		}
	}
	out, err := b.ex.Run(ctx, b.req, 0, clock.Add(time.Minute))
	if err != nil || out != Paused {
		t.Fatalf("first slice = %v, %v; want paused", out, err)
	}
	if out, err := b.ex.Run(ctx, b.req, 0, clock.Add(time.Minute)); err != nil || out != Skipped && out != Paused && out != Finished {
		t.Fatalf("same slice again = %v, %v", out, err)
	}
	b.artifi.onDel = nil
	out, err = b.ex.Run(ctx, b.req, 1, clock.Add(time.Minute))
	if err != nil || out != Finished {
		t.Fatalf("second slice = %v, %v; want finished", out, err)
	}
	if out, _ := b.ex.Run(ctx, b.req, 0, clock.Add(time.Minute)); out != Finished {
		t.Errorf("superseded slice after done = %v, want finished", out)
	}
	for p, n := range b.artifi.deletes {
		if n != 1 {
			t.Errorf("photo %s deleted %d times", p, n)
		}
	}
	r, _ := b.receipt(t)
	if diff := cmp.Diff(wantSystems, r.Systems); diff != "" {
		t.Errorf("receipt systems (-want +got):\n%s", diff)
	}
}

func TestPermanentStepFailsRequestThenResumes(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.bigin.err = errclass.AsPermanent(errors.New("NO_PERMISSION"))
	_, err := b.ex.Run(ctx, b.req, 0, time.Now().Add(time.Minute))
	if errclass.Of(err) != errclass.Permanent || !strings.Contains(err.Error(), "bigin:Accounts:12, bigin:Contacts:11") {
		t.Fatalf("Run = %v; want a permanent error naming both Bigin steps", err)
	}
	rec, _ := b.ex.Store.Get(ctx, b.req.ID)
	var failing []string
	for _, f := range rec.State.Failing {
		failing = append(failing, f.Step)
	}
	if diff := cmp.Diff([]string{"bigin:Accounts:12", "bigin:Contacts:11"}, failing); diff != "" {
		t.Errorf("failing steps (-want +got):\n%s", diff)
	}
	if rec.State.Status != StatusFailed || rec.StepsDone != 48 || !rec.AtRisk {
		t.Errorf("status %s, %d steps done, at risk %v; want failed, 48, true", rec.State.Status, rec.StepsDone, rec.AtRisk)
	}

	b.bigin.err = nil
	out, err := b.ex.Run(ctx, b.req, 0, time.Now().Add(time.Minute))
	if err != nil || out != Finished {
		t.Fatalf("Run after the fix = %v, %v; want finished", out, err)
	}
	for p, n := range b.artifi.deletes {
		if n != 1 {
			t.Errorf("photo %s deleted %d times", p, n)
		}
	}
}

func TestVerificationNamesWhatRemains(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	// A photo uploaded after planning is not in the plan: verification finds it.
	b.artifi.onDel = func(n int) {
		if n == 1 {
			b.artifi.mu.Lock()
			b.artifi.photos["u-1"] = append(b.artifi.photos["u-1"], "9999")
			b.artifi.mu.Unlock()
		}
	}
	_, err := b.ex.Run(ctx, b.req, 0, time.Now().Add(time.Minute))
	if errclass.Of(err) != errclass.Permanent || !strings.Contains(err.Error(), "artifi: 1 photos of u-1") {
		t.Fatalf("Run = %v; want a permanent failure naming the photo left", err)
	}
}

func reindent(t *testing.T, doc []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, doc); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestDeadlines(t *testing.T) {
	filed := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		extended bool
		now      time.Time
		wantDue  time.Time
		wantLeft int
	}{
		// AddDate normalises 31 February to 3 March, which is later than
		// the end of February: Art. 12(3) counts a month from receipt, and
		// we keep Go's calendar arithmetic rather than invent our own.
		{"one month", false, filed, time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC), 31},
		{"extended", true, filed, time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), 90},
		{"last hours", false, time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC), 1},
		{"overdue", false, time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC), -2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			due := Due(filed, tc.extended)
			if !due.Equal(tc.wantDue) || DaysLeft(due, tc.now) != tc.wantLeft {
				t.Errorf("due %v, %d days left; want %v, %d", due, DaysLeft(due, tc.now), tc.wantDue, tc.wantLeft)
			}
		})
	}
}

// TestStoreFilesOnceAndJoins runs the create script, which decides in one
// step whether a request is new and whether it joins the user's running
// request, on both Redis kinds.
func TestStoreFilesOnceAndJoins(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		s := NewStore(b.Client)
		s.Now = func() time.Time { return now }
		first := Request{ID: "req-1", UserID: "u-1", FiledBy: "dpo-7", FiledAt: now.Add(-48 * time.Hour)}
		second := Request{ID: "req-2", UserID: "u-1", FiledBy: "dpo-7", FiledAt: now}
		for _, tc := range []struct {
			name string
			req  Request
			want Created
		}{
			{"first request", first, Created{New: true}},
			{"same request again", first, Created{New: false}},
			{"second request for the same user", second, Created{New: true, JoinedTo: "req-1"}},
			{"second filing of the joined request", second, Created{New: false, JoinedTo: "req-1"}},
			{"another user", Request{ID: "req-3", UserID: "u-2", FiledBy: "dpo-7", FiledAt: now}, Created{New: true}},
		} {
			got, err := s.Create(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}

		type record struct {
			Status   Status
			JoinedTo string
			Joined   []string
			DueAt    time.Time
		}
		want := map[string]record{
			"req-1": {StatusQueued, "", []string{"req-2"}, Due(first.FiledAt, false)},
			"req-2": {StatusQueued, "req-1", []string{}, Due(second.FiledAt, false)},
			"req-3": {StatusQueued, "", []string{}, Due(now, false)},
		}
		got := map[string]record{}
		for id := range want {
			rec, err := s.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got[id] = record{rec.State.Status, rec.JoinedTo, rec.Joined, rec.DueAt}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
		open, err := s.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, rec := range open {
			ids = append(ids, rec.Request.ID)
		}
		if diff := cmp.Diff([]string{"req-1", "req-2", "req-3"}, ids); diff != "" {
			t.Errorf("open requests, soonest due first (-want +got):\n%s", diff)
		}

		if _, err := s.Extend(ctx, "req-3", "complex request"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Extend(ctx, "req-3", "again"); !errors.Is(err, ErrAlreadyExtended) {
			t.Errorf("second extension: %v, want ErrAlreadyExtended", err)
		}
	})
}

// TestJoinedRequestIsDoneWithTheOneItJoined: a request filed for a user
// whose erasure runs gets its own receipt when that erasure finishes.
func TestJoinedRequestIsDoneWithTheOneItJoined(t *testing.T) {
	b := setup(t) // req-1 for u-1 is filed and active
	ctx := context.Background()
	joined, err := b.ex.Store.Create(ctx, Request{ID: "req-2", UserID: "u-1", FiledBy: "dpo-7", FiledAt: b.now})
	if err != nil || joined.JoinedTo != "req-1" {
		t.Fatalf("Create = %+v, %v; want req-2 joined to req-1", joined, err)
	}
	if _, err := b.ex.Run(ctx, b.req, 0, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	rec, err := b.ex.Store.Get(ctx, "req-2")
	if err != nil || rec.State.Status != StatusDone || rec.ReceiptKey != "receipts/req-2.json" {
		t.Fatalf("joined request: %+v, %v; want done with its receipt", rec.State, err)
	}
	r, _ := b.receipt(t)
	if diff := cmp.Diff([]string{"req-2"}, r.JoinedBy); diff != "" {
		t.Errorf("joined_by (-want +got):\n%s", diff)
	}
}

func TestCollectorShowsDeadlines(t *testing.T) {
	b := setup(t) // req-1, filed two days ago: 29 days left
	ctx := context.Background()
	for _, r := range []Request{
		{ID: "old", UserID: "u-2", FiledBy: "dpo-7", FiledAt: b.now.AddDate(0, -1, 3)},   // 3 days left
		{ID: "late", UserID: "u-3", FiledBy: "dpo-7", FiledAt: b.now.AddDate(0, 0, -40)}, // overdue
	} {
		if _, err := b.ex.Store.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(b.ex.Store, zerolog.New(&logs)))
	want := `
# HELP lifecycle_erasure_at_risk_requests Open erasure requests with under 7 days left or failed.
# TYPE lifecycle_erasure_at_risk_requests gauge
lifecycle_erasure_at_risk_requests 2
# HELP lifecycle_erasure_open_requests Open erasure requests by days left before their legal deadline.
# TYPE lifecycle_erasure_open_requests gauge
lifecycle_erasure_open_requests{days_left="14_to_29"} 1
lifecycle_erasure_open_requests{days_left="30_plus"} 0
lifecycle_erasure_open_requests{days_left="7_to_13"} 0
lifecycle_erasure_open_requests{days_left="overdue"} 1
lifecycle_erasure_open_requests{days_left="under_7"} 1
`
	if err := promtest.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// Scraped twice: one warning per at-risk request, not one per scrape.
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "at risk"); n != 2 {
		t.Errorf("%d at-risk warnings, want 2:\n%s", n, logs.String())
	}
}

// TestBPMUserNameStaysOutOfStatus: BPM quotes the user name in its errors;
// the failure recorded and returned must not.
func TestBPMUserNameStaysOutOfStatus(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.bpm.err = errclass.AsPermanent(errors.New("ibmbpm: DELETE avatar: HTTP 403 CWTBG0019E: user jdoe may not change avatars"))
	_, err := b.ex.Run(ctx, b.req, 0, time.Now().Add(time.Minute))
	if errclass.Of(err) != errclass.Permanent || strings.Contains(err.Error(), "jdoe") {
		t.Errorf("Run = %v; want a permanent error without the user name", err)
	}
	rec, _ := b.ex.Store.Get(ctx, b.req.ID)
	want := []StepFailure{{Step: "ibmbpm:avatar", Class: "permanent", Error: "ibmbpm: DELETE avatar: HTTP 403 CWTBG0019E: user [bpm user] may not change avatars"}}
	if diff := cmp.Diff(want, rec.State.Failing); diff != "" {
		t.Errorf("failing (-want +got):\n%s", diff)
	}
}
