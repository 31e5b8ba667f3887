package bigin_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/sim/biginsim"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/bigin"
)

// Environment of a helper process (see TestHelperProcess).
const (
	envHelper   = "BIGIN_TEST_HELPER" // "1" in a child
	envSimURL   = "BIGIN_TEST_SIM_URL"
	envRedis    = "BIGIN_TEST_REDIS"
	envClientID = "BIGIN_TEST_CLIENT_ID"
	envSecret   = "BIGIN_TEST_CLIENT_SECRET"
	envRefresh  = "BIGIN_TEST_REFRESH_TOKEN"
	envFirstID  = "BIGIN_TEST_FIRST_ID"
	envRecords  = "BIGIN_TEST_RECORDS"
	envRunFor   = "BIGIN_TEST_RUN_FOR"
)

// Three worker processes sharing one Redis, with a Zoho token lifetime
// shortened to 2 s, mint no more than one token per expiry.
func TestThreeProcessesMintOneTokenPerExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three processes for 7 s")
	}
	const (
		lifetime   = 2 * time.Second
		runFor     = 7 * time.Second
		processes  = 3
		perProcess = 2000
	)
	// A real Redis: the token lock's script must hold across processes
	// on what production runs.
	redisAddr, _ := testutil.RealRedis(t)
	sim := biginsim.New(biginsim.Options{TokenLifetime: lifetime})
	simURL, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	for p := range processes {
		for i := range perProcess {
			sim.AddRecord("Contacts", strconv.Itoa(1_000_000*(p+1)+i), true)
		}
	}
	o := sim.Options()

	start := time.Now()
	var wg sync.WaitGroup
	outs := make([]string, processes)
	errs := make([]error, processes)
	for p := range processes {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(),
			envHelper+"=1", envSimURL+"="+simURL, envRedis+"="+redisAddr,
			envClientID+"="+o.ClientID, envSecret+"="+o.ClientSecret, envRefresh+"="+o.RefreshToken,
			envFirstID+"="+strconv.Itoa(1_000_000*(p+1)), envRecords+"="+strconv.Itoa(perProcess),
			envRunFor+"="+runFor.String())
		wg.Go(func() {
			out, err := cmd.CombinedOutput()
			outs[p], errs[p] = string(out), err
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	for p := range processes {
		calls := summary(outs[p])
		if errs[p] != nil || calls == 0 {
			t.Errorf("process %d: %v, %d calls; output:\n%s", p, errs[p], calls, outs[p])
			continue
		}
		t.Logf("process %d: %d calls, all succeeded", p, calls)
	}
	minted := sim.TokensMinted()
	limit := int(math.Ceil(float64(elapsed)/float64(lifetime))) + 1
	t.Logf("%d processes for %v: %d tokens minted (limit %d), peak %d concurrent requests",
		processes, elapsed.Round(time.Millisecond), minted, limit, sim.PeakConcurrent())
	if minted > limit {
		t.Errorf("%d tokens minted in %v with a %v lifetime, want at most %d", minted, elapsed, lifetime, limit)
	}
}

// summary reads the "calls=N" line a helper prints.
func summary(out string) int {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "calls="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// TestHelperProcess is one worker process of
// TestThreeProcessesMintOneTokenPerExpiry; it does nothing when run normally.
// Four goroutines delete photos and check them, each call with the shared
// token; every call must succeed (a photo already gone counts as success).
func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process, started by TestThreeProcessesMintOneTokenPerExpiry")
	}
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(envRedis)})
	defer rdb.Close()
	c, err := bigin.New(bigin.Config{
		AccountsURL: os.Getenv(envSimURL), APIDomain: os.Getenv(envSimURL),
		ClientID: os.Getenv(envClientID), ClientSecret: os.Getenv(envSecret), RefreshToken: os.Getenv(envRefresh),
		Redis: rdb, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := strconv.Atoi(os.Getenv(envFirstID))
	records, _ := strconv.Atoi(os.Getenv(envRecords))
	runFor, _ := time.ParseDuration(os.Getenv(envRunFor))
	deadline := time.Now().Add(runFor)

	var (
		mu    sync.Mutex
		calls int
		fails []error
		wg    sync.WaitGroup
	)
	for g := range 4 {
		wg.Go(func() {
			for i := g; time.Now().Before(deadline); i += 4 {
				id := strconv.Itoa(first + i%records)
				err := c.DeleteRecordPhoto(context.Background(), "Contacts", id)
				if errclass.Of(err) == errclass.AlreadyGone {
					err = nil
				}
				has, herr := c.HasRecordPhoto(context.Background(), "Contacts", id)
				if herr == nil && has {
					herr = fmt.Errorf("record %s still has its photo", id)
				}
				mu.Lock()
				calls += 2
				if e := errors.Join(err, herr); e != nil {
					fails = append(fails, e)
				}
				mu.Unlock()
				// About 100 calls a second per process: enough to meet each
				// expiry, few enough to keep the race detector's cost low.
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	fmt.Printf("calls=%d\n", calls)
	if len(fails) > 0 {
		t.Fatalf("%d of %d calls failed, first: %v", len(fails), calls, fails[0])
	}
}
