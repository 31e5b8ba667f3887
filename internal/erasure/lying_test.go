package erasure_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/biginsim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/bpmsim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/bigin"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/ibmbpm"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
)

// lyingReceiptKey signs these tests' receipts (a fixed test key).
var lyingReceiptKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))

// lyingWorld is the three simulators over HTTP, a file store and a real
// Redis, with one user holding data in every one of them.
type lyingWorld struct {
	artifi  *artifisim.Server
	bigin   *biginsim.Server
	bpm     *bpmsim.Server
	store   storage.Store
	dir     string
	ex      *erasure.Executor
	req     erasure.Request
	userID  string
	bpmUser string
}

const lyingPhotos = 2*artifi.PageSizeDefault + 17 // three pages: a dropped page shows

func newLyingWorld(t *testing.T, rdbAddr string, n int) *lyingWorld {
	t.Helper()
	ctx := context.Background()
	rdb := testutil.Client(t, rdbAddr)
	w := &lyingWorld{userID: fmt.Sprintf("u-%d", n), bpmUser: fmt.Sprintf("jdoe%d", n)}

	w.artifi = artifisim.New(artifisim.Options{WebsiteID: 7, ClientKey: "sim-key"})
	au, err := w.artifi.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.artifi.Close)
	w.artifi.AddPhotos(w.userID, lyingPhotos)
	w.artifi.AddDesigns(w.userID, 2)
	ac, err := artifi.New(artifi.Config{BaseURL: au, WebsiteID: 7, ClientKey: "sim-key", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	w.bigin = biginsim.New(biginsim.Options{})
	bu, err := w.bigin.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.bigin.Close() })
	w.bigin.AddRecord("Contacts", "11", true)
	o := w.bigin.Options()
	bc, err := bigin.New(bigin.Config{AccountsURL: bu, APIDomain: bu, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		RefreshToken: o.RefreshToken, Redis: rdb, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	w.bpm = bpmsim.New(bpmsim.Options{})
	pu, err := w.bpm.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.bpm.Close() })
	w.bpm.AddUser(w.bpmUser, 100+n, true)
	po := w.bpm.Options()
	pc, err := ibmbpm.New(ibmbpm.Config{BaseURL: pu, Username: po.Username, Password: po.Password, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	w.store, w.dir = testutil.FileStore(t)
	testutil.PutObjects(t, w.store, "users/"+w.userID+"/photos/a.jpg", "users/"+w.userID+"/cart.json")

	ids := identity.New(rdb)
	es := erasure.NewStore(rdb)
	w.ex = &erasure.Executor{
		Store: es, Locks: userlock.New(rdb, time.Minute),
		Artifi: ac, Bigin: bc, BPM: pc, Objects: w.store,
		Aliases: ids.Aliases, Tombstone: ids.SetTombstone, ReceiptKey: lyingReceiptKey,
		Log: zerolog.Nop(), Own: erasure.NopOwnCopies(),
	}
	w.req = erasure.Request{ID: fmt.Sprintf("req-%d", n), UserID: w.userID, BPMUser: w.bpmUser, FiledBy: "dpo",
		FiledAt: time.Now().Add(-time.Hour), Bigin: []erasure.BiginRecord{{Module: "Contacts", RecordID: "11"}}}
	if _, err := es.Create(ctx, w.req); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *lyingWorld) lie(modes ...string) {
	for _, inj := range []*faults.Injector{w.artifi.Faults(), w.bigin.Faults(), w.bpm.Faults()} {
		inj.Set(faults.Config{Lies: modes})
	}
}

// erase runs the request as the queue would: slice after slice, a retryable
// error retried, until it finishes, needs review or fails for good.
func (w *lyingWorld) erase(t *testing.T) erasure.Record {
	t.Helper()
	ctx := context.Background()
	for attempt := range 30 {
		out, err := w.ex.Run(ctx, w.req, 0, time.Now().Add(time.Minute))
		if err == nil && out != erasure.Paused {
			break
		}
		if err != nil && errclass.Of(err) != errclass.Retry {
			break
		}
		if attempt == 29 {
			t.Fatalf("erasure still retrying after 30 attempts: %v", err)
		}
	}
	rec, err := w.ex.Store.Get(ctx, w.req.ID)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// left names what any simulator or the store still holds of the user.
func (w *lyingWorld) left(t *testing.T) []string {
	t.Helper()
	var out []string
	if n := len(w.artifi.Photos(w.userID)); n > 0 {
		out = append(out, fmt.Sprintf("artifi: %d photos", n))
	}
	if n := w.artifi.Designs(w.userID); n > 0 {
		out = append(out, fmt.Sprintf("artifi: %d designs", n))
	}
	if w.bigin.HasPhoto("Contacts", "11") {
		out = append(out, "bigin: photo")
	}
	if !w.bpm.AvatarIsDefault(w.bpmUser) {
		out = append(out, "ibmbpm: custom avatar")
	}
	var entries []string
	_ = filepath.WalkDir(filepath.Join(w.dir, "users", w.userID), func(p string, _ os.DirEntry, err error) error {
		if err == nil && p != filepath.Join(w.dir, "users", w.userID) {
			entries = append(entries, p)
		}
		return nil
	})
	if len(entries) > 0 {
		out = append(out, fmt.Sprintf("storage: %d entries", len(entries)))
	}
	return out
}

// TestLyingUpstreams erases a user with data in every system while one
// lying mode is on: the erasure must never end done while anything of the
// user remains, and must end needs_review or failed naming a step. With no
// lie, the same erasure ends done with nothing left, so the suite can fail.
func TestLyingUpstreams(t *testing.T) {
	addr, _ := testutil.RealRedis(t)
	modes := [][]string{
		nil, // control: honest upstreams
		{artifisim.LieUnknownCode},
		{artifisim.LieGoneForExisting},
		{artifisim.LieListNoTotal},
		{artifisim.LieListDropPage},
		{artifisim.LieDeleteNoop},
		{biginsim.LieInvalidData},
		{biginsim.LieDeleteNoop},
		{bpmsim.LieHTML403},
		{bpmsim.Lie500UnknownUser},
		{bpmsim.LieDeleteNoop},
		{"storage_symlink"}, // not a simulator's: a symbolic link under the prefix
	}
	var falseDone, done, review, failed int
	start := time.Now()
	for n, mode := range modes {
		name := strings.Join(mode, "+")
		if name == "" {
			name = "honest"
		}
		t.Run(name, func(t *testing.T) {
			w := newLyingWorld(t, addr, n)
			w.lie(mode...)
			if name == "storage_symlink" {
				if err := os.Symlink("/etc/hostname", filepath.Join(w.dir, "users", w.userID, "link")); err != nil {
					t.Fatal(err)
				}
			}
			rec := w.erase(t)
			left := w.left(t)
			switch rec.State.Status {
			case erasure.StatusDone:
				done++
				if len(left) > 0 {
					falseDone++
					t.Errorf("erasure done while %v remain", left)
				}
			case erasure.StatusNeedsReview:
				review++
				if len(rec.State.Unconfirmed) == 0 {
					t.Errorf("needs_review without naming a step")
				}
				if !rec.AtRisk {
					t.Errorf("needs_review is not counted at risk")
				}
				for _, f := range rec.State.Unconfirmed {
					if f.Step == "" || f.System == "" || f.Answer == "" {
						t.Errorf("finding does not name step, system and answer: %+v", f)
					}
				}
			case erasure.StatusFailed:
				failed++
				if len(rec.State.Failing) == 0 && len(rec.State.Remains) == 0 {
					t.Errorf("failed without naming a step or what remains")
				}
			default:
				t.Errorf("erasure ended %s", rec.State.Status)
			}
			if mode == nil && (rec.State.Status != erasure.StatusDone || len(left) > 0) {
				t.Errorf("honest upstreams: status %s, left %v, unconfirmed %+v, failing %+v", rec.State.Status, left, rec.State.Unconfirmed, rec.State.Failing)
			}
			if mode != nil && rec.State.Status == erasure.StatusDone && len(left) == 0 {
				t.Logf("mode %s: done, nothing left", name)
			}
		})
	}
	fmt.Printf("lying upstreams: %d modes + control, %d done (%d false), %d needs_review, %d failed, in %s\n",
		len(modes)-1, done, falseDone, review, failed, time.Since(start).Round(time.Millisecond))
	if falseDone > 0 {
		t.Errorf("%d false done", falseDone)
	}
}

// TestResolveFinishesARequestInReview: each unconfirmed finding resolved
// (who and why) finishes the request, and the receipt names the decisions.
func TestResolveFinishesARequestInReview(t *testing.T) {
	addr, _ := testutil.RealRedis(t)
	w := newLyingWorld(t, addr, 1)
	w.lie(bpmsim.Lie500UnknownUser)
	rec := w.erase(t)
	if rec.State.Status != erasure.StatusNeedsReview || len(rec.State.Unconfirmed) == 0 {
		t.Fatalf("status %s, unconfirmed %+v; want needs_review", rec.State.Status, rec.State.Unconfirmed)
	}
	ctx := context.Background()
	if _, err := w.ex.Resolve(ctx, w.req.ID, "no-such-step", erasure.Retained, "x", "ann"); !errors.Is(err, erasure.ErrNotInReview) {
		t.Errorf("resolving an unknown step: %v, want ErrNotInReview", err)
	}
	if _, err := w.ex.Resolve(ctx, w.req.ID, rec.State.Unconfirmed[0].Step, erasure.Retained, " ", "ann"); err == nil {
		t.Errorf("a resolution without a reason was accepted")
	}
	for i, f := range rec.State.Unconfirmed {
		got, err := w.ex.Resolve(ctx, w.req.ID, f.Step, erasure.Retained, "BPM avatar kept under legal hold #42", "ann")
		if err != nil {
			t.Fatal(err)
		}
		last := i == len(rec.State.Unconfirmed)-1
		if (got.State.Status == erasure.StatusDone) != last {
			t.Fatalf("after %d of %d resolutions: status %s", i+1, len(rec.State.Unconfirmed), got.State.Status)
		}
	}
	final, err := w.ex.Store.Get(ctx, w.req.ID)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := w.store.Get(ctx, final.ReceiptKey)
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	var rc erasure.Receipt
	if err := json.NewDecoder(doc).Decode(&rc); err != nil {
		t.Fatal(err)
	}
	if len(rc.Resolutions) != len(rec.State.Unconfirmed) || rc.Resolutions[0].By != "ann" || rc.Resolutions[0].As != erasure.Retained || rc.Resolutions[0].Answer == "" {
		t.Errorf("receipt resolutions = %+v", rc.Resolutions)
	}
}
