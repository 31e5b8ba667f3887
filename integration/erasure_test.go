package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/sim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// receiptSigningKey signs the receipts of these tests (Ed25519, PKCS #8 in
// base64: openssl genpkey -algorithm ed25519 | sed -n 2p); the CLI verifies
// them with its public half.
const receiptSigningKey = "MC4CAQAwBQYDK2VwBCIEIFA9jb+TmF56ZgKLKnEAzjuM5fScchkjWC5+Wm7YN92g"

// eraseSubject is what one test's person has everywhere.
type eraseSubject struct {
	user, guest   string
	photos        int // Artifi photos of the user (the guest has guestPhotos)
	guestPhotos   int
	objects       int // stored objects under users/{user}/ (the guest has guestObjects)
	guestObjects  int
	bigin         []tasks.BiginRecord
	bpmUser       string
	requestID     string
	neighbourKeys []string // objects of another user that must survive
}

// eraseBundle is one test's world: Redis in a container, the three
// simulators and a file store in this process, workers as real processes.
type eraseBundle struct {
	redis harness.Redis
	rdb   *redis.Client
	set   *sim.Set
	dir   string
	store storage.Store
	es    *erasure.Store
	s     eraseSubject
	// s3, if set, is the store instead of the file store in dir.
	s3 *harness.S3
}

func setupErase(t *testing.T, s eraseSubject) *eraseBundle {
	t.Helper()
	ctx := context.Background()
	b := &eraseBundle{redis: harness.StartRedis(t, nil), s: s}
	b.rdb = testutil.Client(t, b.redis.Addr)
	b.es = erasure.NewStore(b.rdb)
	b.set = harness.StartSimulators(t)
	b.store, b.dir = testutil.FileStore(t)

	b.set.Artifi.AddPhotos(s.user, s.photos)
	b.set.Artifi.AddPhotos(s.guest, s.guestPhotos)
	b.set.Artifi.AddDesigns(s.user, 3)
	b.set.Artifi.AddDesigns(s.guest, 2)
	for _, r := range s.bigin {
		b.set.Bigin.AddRecord(r.Module, r.RecordID, true)
	}
	b.set.BPM.AddUser(s.bpmUser, 4242, true)
	if err := identity.New(b.rdb).RecordMerge(ctx, s.guest, s.user); err != nil {
		t.Fatal(err)
	}
	for i := range s.objects {
		testutil.PutObjects(t, b.store, fmt.Sprintf("users/%s/photos/%05d.jpg", s.user, i))
	}
	for i := range s.guestObjects {
		testutil.PutObjects(t, b.store, fmt.Sprintf("users/%s/designs/%05d.json", s.guest, i))
	}
	// A user whose id extends ours: a prefix without its slash would take
	// their objects too.
	b.s.neighbourKeys = []string{"users/" + s.user + "0/keep.jpg"}
	testutil.PutObjects(t, b.store, b.s.neighbourKeys...)
	return b
}

// env is a worker's or a CLI's environment on this bundle.
func (b *eraseBundle) env(t *testing.T) []string {
	c := b.set.Credentials
	env := []string{
		"LIFECYCLE_REDIS_URL=" + b.redis.URL(),
		"LIFECYCLE_HTTP_ADDR=" + testutil.FreeAddr(t),
		"LIFECYCLE_STORAGE=" + b.storageURL(),
		"LIFECYCLE_RECEIPT_SIGNING_KEY=" + receiptSigningKey,
		"LIFECYCLE_SHUTDOWN_TIMEOUT=4s",
		"LIFECYCLE_ARTIFI_URL=" + b.set.ArtifiURL,
		"LIFECYCLE_ARTIFI_WEBSITE_ID=" + strconv.Itoa(c.ArtifiWebsiteID),
		"LIFECYCLE_ARTIFI_CLIENT_KEY=" + c.ArtifiClientKey,
		"LIFECYCLE_BIGIN_ACCOUNTS_URL=" + b.set.BiginURL,
		"LIFECYCLE_BIGIN_API_DOMAIN=" + b.set.BiginURL,
		"LIFECYCLE_BIGIN_CLIENT_ID=" + c.BiginClientID,
		"LIFECYCLE_BIGIN_CLIENT_SECRET=" + c.BiginClientSecret,
		"LIFECYCLE_BIGIN_REFRESH_TOKEN=" + c.BiginRefreshToken,
		"LIFECYCLE_BPM_URL=" + b.set.BPMURL,
		"LIFECYCLE_BPM_USERNAME=" + c.BPMUsername,
		"LIFECYCLE_BPM_PASSWORD=" + c.BPMPassword,
	}
	if b.s3 != nil {
		env = append(env, "LIFECYCLE_S3_ACCESS_KEY="+b.s3.AccessKey, "LIFECYCLE_S3_SECRET_KEY="+b.s3.SecretKey)
	}
	return env
}

func (b *eraseBundle) storageURL() string {
	if b.s3 != nil {
		return b.s3.URL()
	}
	return "file://" + b.dir
}

func (b *eraseBundle) worker(t *testing.T) *harness.Process {
	return harness.StartProcess(t, b.env(t), "worker")
}

// cli runs a short-lived lifecycle command and returns its output and exit
// status.
func (b *eraseBundle) cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(harness.Binary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, b.env(t)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("lifecycle %v: %v", args, err)
	}
	return string(out), 0
}

func (b *eraseBundle) file(t *testing.T) {
	t.Helper()
	s := b.s
	var bigin []string
	for _, r := range s.bigin {
		bigin = append(bigin, r.Module+":"+r.RecordID)
	}
	out, code := b.cli(t, "erasure", "file", "--request-id", s.requestID, "--user-id", s.user,
		"--bigin", strings.Join(bigin, ","), "--bpm-user", s.bpmUser, "--filed-by", "dpo-1", "--filed-at", "2026-11-20T09:00:00Z")
	if code != 0 || !strings.Contains(out, "request "+s.requestID+" filed") {
		t.Fatalf("erasure file: status %d:\n%s", code, out)
	}
	// Filed twice: runs once.
	out, code = b.cli(t, "erasure", "file", "--request-id", s.requestID, "--user-id", s.user, "--filed-by", "dpo-1")
	if code != 0 || !strings.Contains(out, "was filed before") {
		t.Fatalf("erasure file again: status %d:\n%s", code, out)
	}
}

func (b *eraseBundle) record(t *testing.T) erasure.Record {
	t.Helper()
	rec, err := b.es.Get(context.Background(), b.s.requestID)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// waitFor waits until the request's record meets cond, what names it.
func (b *eraseBundle) waitFor(t *testing.T, d time.Duration, what string, cond func(erasure.Record) bool) erasure.Record {
	t.Helper()
	var rec erasure.Record
	testutil.Eventually(t, d, func() bool {
		rec = b.record(t)
		return cond(rec)
	}, "after %v, not %s: %+v (%d steps done)", d, what,
		testutil.Later(func() any { return rec.State }), testutil.Later(func() any { return rec.StepsDone }))
	return rec
}

// wantSystems is the receipt summary of eraseSubject s, whatever the run:
// Count is what was erased, the same however often the worker died.
func wantCounts(s eraseSubject) map[string][2]int {
	return map[string][2]int{ // system -> {steps, count}
		// Steps: each photo, the designs of both ids, and the
		// cart-and-activity step of both ids (unconfirmed, seed 003).
		erasure.SystemArtifi:  {s.photos + s.guestPhotos + 2 + 2, s.photos + s.guestPhotos + 2},
		erasure.SystemBigin:   {len(s.bigin), len(s.bigin)},
		erasure.SystemIBMBPM:  {1, 1},
		erasure.SystemStorage: {4, s.objects + s.guestObjects}, // prefix and versions step of each id
		// Tasks, dead letters, quarantine and records of ours: the merge of
		// the guest left two records (the user's aliases, the guest's
		// merged-into).
		erasure.SystemOwn: {4, 2},
	}
}

// checkErased asserts that nothing of the subject is left anywhere, that the
// receipt counts it all and verifies, and that the ids are tombstoned.
func (b *eraseBundle) checkErased(t *testing.T) erasure.Receipt {
	t.Helper()
	ctx := context.Background()
	s := b.s
	for _, id := range []string{s.user, s.guest} {
		if n := len(b.set.Artifi.Photos(id)); n > 0 {
			t.Errorf("Artifi still has %d photos of %s", n, id)
		}
		if n := b.set.Artifi.Designs(id); n > 0 {
			t.Errorf("Artifi still has %d designs of %s", n, id)
		}
		n := 0
		for _, err := range b.store.List(ctx, "users/"+id+"/", "") {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n > 0 {
			t.Errorf("storage still has %d objects of %s", n, id)
		}
		if _, ok, _ := identity.New(b.rdb).Tombstoned(ctx, id); !ok {
			t.Errorf("%s not tombstoned", id)
		}
	}
	for _, k := range s.neighbourKeys {
		if _, err := b.store.Stat(ctx, k); err != nil {
			t.Errorf("neighbour's %s: %v", k, err)
		}
	}
	for _, r := range s.bigin {
		if b.set.Bigin.HasPhoto(r.Module, r.RecordID) {
			t.Errorf("Bigin %s/%s still has a photo", r.Module, r.RecordID)
		}
	}
	if !b.set.BPM.AvatarIsDefault(s.bpmUser) {
		t.Error("BPM avatar is not the default")
	}

	path := filepath.Join(b.dir, skeys.Receipt(s.requestID))
	out, code := b.cli(t, "receipt", "verify", path)
	if code != 0 {
		t.Errorf("receipt verify: status %d: %s", code, out)
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), s.bpmUser) {
		t.Error("the receipt holds the BPM user name")
	}
	var rc erasure.Receipt
	if err := json.Unmarshal(doc, &rc); err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int{}
	for _, sum := range rc.Systems {
		got[sum.System] = [2]int{sum.Steps, sum.Count}
		if sum.Failed != 0 {
			t.Errorf("receipt: %d failed steps in %s", sum.Failed, sum.System)
		}
	}
	if diff := cmp.Diff(wantCounts(s), got); diff != "" {
		t.Errorf("receipt {steps, count} by system (-want +got):\n%s", diff)
	}
	// Photos, designs and cart-and-activity of both ids, Bigin records, the
	// avatar, the prefix and versions steps of both ids, and the four steps
	// on our own copies.
	if len(rc.Steps) != s.photos+s.guestPhotos+2+2+len(s.bigin)+1+4+4 || rc.Verification.Result != "passed" {
		t.Errorf("receipt lists %d steps, verification %q", len(rc.Steps), rc.Verification.Result)
	}

	// Tampering is detected: one count changed.
	tampered := filepath.Join(t.TempDir(), "tampered.json")
	if err := os.WriteFile(tampered, []byte(strings.Replace(string(doc), `"count": 1`, `"count": 0`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := b.cli(t, "receipt", "verify", tampered); code != 1 || !strings.Contains(out, "does not match") {
		t.Errorf("tampered receipt: status %d: %s", code, out)
	}
	return rc
}

var bigSubject = eraseSubject{
	user: "u-erase", guest: "g-erase", photos: 2000, guestPhotos: 20, objects: 2000, guestObjects: 50,
	bigin:   []tasks.BiginRecord{{Module: "Contacts", RecordID: "5001"}, {Module: "Accounts", RecordID: "5002"}},
	bpmUser: "jane.doe", requestID: "gdpr-2026-0001",
}

// TestEraseEverything: acceptance 1. A clean run erases everything, once.
func TestEraseEverything(t *testing.T) {
	t.Parallel()
	b := setupErase(t, bigSubject)
	start := time.Now()
	b.worker(t)
	b.file(t)
	rec := b.waitFor(t, 90*time.Second, "done", func(r erasure.Record) bool { return r.State.Status == erasure.StatusDone })
	t.Logf("erased %d steps in %v", rec.StepsDone, time.Since(start).Round(100*time.Millisecond))
	b.checkErased(t)
	if n := b.set.Artifi.DoubleDeletes(); n != 0 {
		t.Errorf("%d photos deleted more than once in a clean run", n)
	}
	for _, r := range b.s.bigin {
		if n := b.set.Bigin.PhotoDeletes(r.Module, r.RecordID); n != 1 {
			t.Errorf("Bigin %s/%s: %d deletes, want 1", r.Module, r.RecordID, n)
		}
	}
	if out, code := b.cli(t, "erasure", "status", b.s.requestID); code != 0 || !strings.Contains(out, "status    done") {
		t.Errorf("erasure status: %d\n%s", code, out)
	}
}

// snapshot is what had been checkpointed at a kill, and how many delete calls
// each of those steps had received by then (keyed by photo id for Artifi
// photos, by step key for Bigin and BPM).
type snapshot map[string]int

func (b *eraseBundle) snapshot(t *testing.T) snapshot {
	t.Helper()
	keys, err := b.rdb.HKeys(context.Background(), rkeys.ErasureSteps(b.s.requestID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot{}
	for _, k := range keys {
		if rest, ok := strings.CutPrefix(k, "artifi:photo:"); ok {
			photo := rest[strings.LastIndex(rest, ":")+1:]
			snap[photo] = b.set.Artifi.DeleteCount(photo)
		}
		if rest, ok := strings.CutPrefix(k, "bigin:"); ok {
			module, record, _ := strings.Cut(rest, ":")
			snap[k] = b.set.Bigin.PhotoDeletes(module, record)
		}
		if k == "ibmbpm:avatar" {
			snap[k] = b.set.BPM.Deletes(b.s.bpmUser)
		}
	}
	return snap
}

// TestEraseSurvivesKillsAndFaults: acceptance 2. The worker is killed with
// SIGKILL twice midway, and every upstream answers 20% of calls with an
// error or a rate limit. The receipt counts are those of a clean run, and no
// photo checkpointed before a kill receives another delete call.
//
// How a kill is recovered (see handlers.UserErase): the erasure runs as
// 10-second slices, each scheduling its successor 40 s ahead as a watchdog.
// After a kill, that successor runs on the next worker once the dead
// worker's user lock lease (30 s) has expired; asynq's own recovery of the
// killed task (a minute or two later) finds itself superseded and ends.
func TestEraseSurvivesKillsAndFaults(t *testing.T) {
	t.Parallel()
	b := setupErase(t, bigSubject)
	// Latency stretches the run so that the kills land midway.
	cfg := faults.Config{ErrorRate: 0.15, ThrottleRate: 0.05, Latency: 15 * time.Millisecond, Seed: 7}
	b.set.Artifi.Faults().Set(cfg)
	b.set.Bigin.Faults().Set(cfg)
	b.set.BPM.Faults().Set(cfg)

	start := time.Now()
	w := b.worker(t)
	b.file(t)
	var snaps []snapshot
	for kill := 1; kill <= 2; kill++ {
		from := b.record(t).StepsDone
		rec := b.waitFor(t, 120*time.Second, "progressing", func(r erasure.Record) bool {
			return r.StepsDone >= from+400 || r.State.Status == erasure.StatusDone
		})
		if rec.State.Status == erasure.StatusDone {
			t.Fatalf("kill %d: the erasure finished before the kill; slow the simulators down", kill)
		}
		if err := w.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		w.Wait(5 * time.Second)
		snaps = append(snaps, b.snapshot(t))
		t.Logf("kill %d at %v: %d/%d steps checkpointed", kill, time.Since(start).Round(100*time.Millisecond), b.record(t).StepsDone, rec.State.StepsTotal)
		w = b.worker(t)
	}
	rec := b.waitFor(t, 150*time.Second, "done", func(r erasure.Record) bool { return r.State.Status == erasure.StatusDone })
	t.Logf("done at %v: %d steps", time.Since(start).Round(100*time.Millisecond), rec.StepsDone)

	rc := b.checkErased(t)
	for i, snap := range snaps {
		repeated := 0
		now := b.snapshot(t)
		for step, n := range snap {
			if now[step] != n {
				repeated++
			}
		}
		if repeated > 0 {
			t.Errorf("kill %d: %d steps checkpointed before it got delete calls after it", i+1, repeated)
		}
	}
	// The window the design accepts: a call in flight at a kill, answered
	// but not yet checkpointed, is repeated once (and answers 327). With 8
	// calls at once and two kills, at most 16.
	if n := b.set.Artifi.DoubleDeletes(); n > 16 {
		t.Errorf("%d photos deleted more than once, want at most 16 (the calls in flight at two kills)", n)
	}
	var stats []string
	for _, s := range rc.Systems {
		stats = append(stats, fmt.Sprintf("%s %d deleted/%d already_absent", s.System, s.Deleted, s.AlreadyAbsent))
	}
	t.Logf("receipt: %s; photos deleted twice: %d; Artifi faults: %+v", strings.Join(stats, ", "), b.set.Artifi.DoubleDeletes(), b.set.Artifi.Faults().Stats())
}

// TestErasePermanentStepFailsThenResumes: acceptance 3. A Bigin record whose
// photo we may not delete fails the request, and `erasure status` names that
// step; the task is dead-lettered. Once the permission is fixed, retrying the
// dead letter finishes the request. Which steps fail, which are done and that
// none is redone are erasure.TestPermanentStepFailsRequestThenResumes; what
// `erasure list` and `erasure extend` show of a failed request is
// cmd/lifecycle's TestErasureCommands.
func TestErasePermanentStepFailsThenResumes(t *testing.T) {
	t.Parallel()
	s := eraseSubject{
		user: "u-perm", guest: "g-perm", photos: 200, guestPhotos: 5, objects: 100, guestObjects: 5,
		bigin: []tasks.BiginRecord{{Module: "Contacts", RecordID: "7001"}}, bpmUser: "john.roe", requestID: "gdpr-2026-0002",
	}
	b := setupErase(t, s)
	// One refusal is all it takes: a permanent failure is not retried.
	b.set.Bigin.FailNext("NO_PERMISSION", 1)
	b.worker(t)
	b.file(t)
	b.waitFor(t, 90*time.Second, "failed", func(r erasure.Record) bool { return r.State.Status == erasure.StatusFailed })
	if out, _ := b.cli(t, "erasure", "status", s.requestID); !strings.Contains(out, "failing   bigin:Contacts:7001") {
		t.Errorf("erasure status does not name the failing step:\n%s", out)
	}

	insp := asynq.NewInspector(b.redis.Opt())
	defer insp.Close()
	var dead []*asynq.TaskInfo
	testutil.Eventually(t, 10*time.Second, func() bool {
		dead, _ = insp.ListArchivedTasks(tasks.QueueErase)
		return len(dead) == 1
	}, "dead letters: %+v, want the request's task", testutil.Later(func() any { return dead }))
	if !strings.Contains(dead[0].LastErr, "bigin:Contacts:7001") {
		t.Fatalf("dead letter: %+v, want it naming the step", dead[0])
	}

	// The permission is back (the simulator refused only once).
	if err := insp.RunTask(tasks.QueueErase, dead[0].ID); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, 60*time.Second, "done", func(r erasure.Record) bool { return r.State.Status == erasure.StatusDone })
	b.checkErased(t)
}
