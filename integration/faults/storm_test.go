package faults

import (
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	simfaults "github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// stormFor is how long scenario 5's storm blows before every upstream heals.
const stormFor = 20 * time.Second

// TestUpstreamStorms (scenario 5): for stormFor, Artifi answers half its
// requests with 5xx, Bigin throttles with 429 and Retry-After and its access
// tokens expire twice, and IBM BPM takes 10 s to answer. Every deletion must
// complete once the storm is over, no upstream may ever see more calls at
// once than its limit, no deletion may be applied twice, and Zoho tokens
// must be refreshed at most 10 times (Zoho's limit: 10 per 10 minutes).
func TestUpstreamStorms(t *testing.T) {
	t.Parallel() // processes of this machine only (main_test.go)
	const artifiLimit, biginLimit, bpmLimit = 4, 3, 3
	r := startAOFRedis(t)
	set := harness.StartSimulators(t)
	dir := t.TempDir()
	ps := startWorkers(t, 2, r.URL(), dir, set, "LIFECYCLE_CONCURRENCY=10",
		fmt.Sprintf("LIFECYCLE_ARTIFI_CONCURRENCY=%d", artifiLimit),
		fmt.Sprintf("LIFECYCLE_BIGIN_CONCURRENCY=%d", biginLimit),
		fmt.Sprintf("LIFECYCLE_BPM_CONCURRENCY=%d", bpmLimit))

	jobs := artifiPhotos(set, "storm", 200)
	var bigin []string
	for i := range 100 {
		id := fmt.Sprintf("20340200000%05d", i)
		set.Bigin.AddRecord(tasks.BiginContacts, id, true)
		bigin = append(bigin, id)
		jobs = append(jobs, tasks.PhotoDeletePayload{System: tasks.SystemBigin, UserID: fmt.Sprintf("b-%d", i), Module: tasks.BiginContacts, RecordID: id})
	}
	for i := range 30 {
		name := fmt.Sprintf("bpm-user-%d", i)
		set.BPM.AddUser(name, 1000+i, true)
		jobs = append(jobs, tasks.PhotoDeletePayload{System: tasks.SystemIBMBPM, UserID: fmt.Sprintf("p-%d", i), User: name})
	}
	set.Artifi.Faults().Set(simfaults.Config{ErrorRate: 0.5, Seed: 5})
	set.Bigin.Faults().Set(simfaults.Config{ThrottleRate: 0.3, RetryAfter: 2 * time.Second, Seed: 6})
	set.BPM.Faults().Set(simfaults.Config{Latency: 10 * time.Second})

	client := tasks.NewClient(asynq.RedisClientOpt{Addr: r.Addr()})
	defer client.Close()
	start := time.Now()
	enqueuePhotos(t, client, jobs)
	for _, at := range []time.Duration{stormFor / 4, 3 * stormFor / 4} {
		time.Sleep(at - time.Since(start))
		set.Bigin.ExpireTokens()
	}
	time.Sleep(stormFor - time.Since(start))
	for _, s := range []*simfaults.Injector{set.Artifi.Faults(), set.Bigin.Faults(), set.BPM.Faults()} {
		s.Set(simfaults.Config{})
	}
	cleared := time.Now()
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: r.Addr()})
	defer in.Close()
	out := drain(t, in, tasks.QueuePhoto, len(jobs), 2*time.Minute)

	repeats := photoRepeats(set, jobs[:200])
	for _, id := range bigin {
		repeats += max(0, set.Bigin.PhotoDeletes(tasks.BiginContacts, id)-1)
	}
	left := photosLeft(set, jobs[:200])
	for i := range 30 {
		name := fmt.Sprintf("bpm-user-%d", i)
		repeats += max(0, set.BPM.Deletes(name)-1)
		if !set.BPM.AvatarIsDefault(name) {
			left++
		}
	}
	for _, id := range bigin {
		if set.Bigin.HasPhoto(tasks.BiginContacts, id) {
			left++
		}
	}
	peaks := [3]int{set.Artifi.Faults().Stats().PeakConcurrent, set.Bigin.PeakConcurrent(), set.BPM.PeakConcurrent()}
	rep := report{name: "5 upstream storms " + stormFor.String(), in: len(jobs), out: out, attempts: outcomes(ps...),
		lost: len(jobs) - out.done + left, repeats: repeats, recovery: time.Since(cleared),
		extra: fmt.Sprintf("peak_concurrent artifi=%d/%d bigin=%d/%d bpm=%d/%d zoho_token_refreshes=%d",
			peaks[0], artifiLimit, peaks[1], biginLimit, peaks[2], bpmLimit, set.Bigin.TokensMinted())}
	rep.print()
	if rep.lost != 0 || out.archived != 0 {
		t.Errorf("%d lost, %d dead-lettered; want 0 and 0", rep.lost, out.archived)
	}
	if rep.repeats != 0 {
		t.Errorf("%d deletions applied twice", rep.repeats)
	}
	for i, lim := range []int{artifiLimit, biginLimit, bpmLimit} {
		if peaks[i] > lim {
			t.Errorf("upstream %d saw %d calls at once, over its limit %d", i, peaks[i], lim)
		}
	}
	if n := set.Bigin.TokensMinted(); n > 10 {
		t.Errorf("%d Zoho token refreshes, over 10 per 10 minutes", n)
	}
}
