package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Corpus sizes: the API takes most inputs (a keep-alive request is well
// under a millisecond); a command line costs a process start, so the CLI
// takes fewer.
const (
	hostileHTTP = 10_000
	hostileCLI  = 1000
)

// TestHostileCorpus runs the hostile corpus against the real binary in dev
// mode (embedded Redis, file storage, worker, scheduler and API in one
// process): each input must be refused cleanly (a 4xx naming the field or
// the reason, or exit status 2 naming the flag), and Redis and storage must
// be exactly as before it. It prints
//
//	N tried, N refused cleanly, 0 touched state
//
// and must do so in under two minutes.
func TestHostileCorpus(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "storage")
	p := harness.StartProcess(t, []string{"LIFECYCLE_LOG_LEVEL=error"}, "dev", "--http-addr", "127.0.0.1:0", "--dev-redis-addr", "127.0.0.1:0", "--storage", "file://"+storeDir)
	redisAddr, api := devAddresses(t, p)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	ctx := context.Background()

	// Two requests a command line may name: one open, one done.
	store := erasure.NewStore(rdb)
	for _, id := range []string{"gdpr-open", "gdpr-done"} {
		if _, err := store.Create(ctx, erasure.Request{ID: id, UserID: "u-" + id, FiledBy: "dpo-1", FiledAt: time.Now().UTC().Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SetState(ctx, "gdpr-done", erasure.State{Status: erasure.StatusDone}); err != nil {
		t.Fatal(err)
	}
	digest := func() string { return stateDigest(t, rdb, storeDir) }
	before := digest()
	beforeKeys := keyDigests(t, rdb, storeDir)

	r := rand.New(rand.NewPCG(13, 2026))
	var tried, clean, touched atomic.Int64
	var mu sync.Mutex
	var failures []string
	var failed atomic.Int64
	fail := func(format string, args ...any) {
		failed.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	// A broken edge fails thousands of inputs, each slowly if it starts
	// work; a hundred say enough.
	enough := func() bool { return failed.Load() >= 100 }

	// The API, one keep-alive connection, state checked after every input.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	httpStart := time.Now()
	for i, in := range httpCorpus(r, hostileHTTP) {
		if enough() {
			break
		}
		tried.Add(1)
		status, body, err := send(client, api, in)
		ok := err == nil && (in.status == status || in.status == 0 && status/100 == 4) && strings.Contains(body, in.mention)
		if ok {
			clean.Add(1)
		} else {
			fail("http #%d (%s) %s %.120q %.200q: %d %v %.300q; want %d mentioning %q", i, in.class, in.method, in.path, in.body, status, err, body, in.status, in.mention)
		}
		if now := digest(); now != before {
			touched.Add(1)
			keys := keyDigests(t, rdb, storeDir)
			fail("http #%d (%s) %.200q changed Redis or storage: %v", i, in.class, in.body, changedKeys(beforeKeys, keys))
			before, beforeKeys = now, keys
		}
	}
	httpTook, httpTried := time.Since(httpStart), tried.Load()

	// The CLI, two processes at a time, state checked after each pair.
	bin := harness.Binary(t)
	env := map[string]string{"LIFECYCLE_REDIS_URL": "redis://" + redisAddr, "LIFECYCLE_STORAGE": "file://" + storeDir, "LIFECYCLE_LOG_LEVEL": "error"}
	cli := cliCorpus(r, hostileCLI, env)
	cliStart := time.Now()
	for i := 0; i < len(cli) && !enough(); i += 2 {
		var wg sync.WaitGroup
		for j := i; j < min(i+2, len(cli)); j++ {
			wg.Go(func() {
				in := cli[j]
				tried.Add(1)
				code, stderr := runCLI(bin, dir, in)
				if code == 2 && strings.Contains(stderr, in.mention) && !strings.Contains(stderr, "\x1b") {
					clean.Add(1)
				} else {
					fail("cli #%d (%s) %.200q: exit %d, %.300q; want 2 mentioning %q", j, in.class, in.args, code, stderr, in.mention)
				}
			})
		}
		wg.Wait()
		if now := digest(); now != before {
			touched.Add(1)
			now := keyDigests(t, rdb, storeDir)
			fail("cli #%d-%d (%s, %s) changed Redis or storage: %v", i, i+1, cli[i].class, cli[min(i+1, len(cli)-1)].class, changedKeys(beforeKeys, now))
			before = digest()
			beforeKeys = now
		}
	}
	cliTook := time.Since(cliStart)

	// The digest sees a change: a valid filing is one.
	resp, err := client.Post(api+"/v1/erasures", "application/json", strings.NewReader(
		fmt.Sprintf(`{"request_id":"gdpr-valid","user_id":"u-valid","filed_by":"dpo-1","filed_at":%q}`, time.Now().UTC().Format(time.RFC3339))))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a valid filing: %v %v", resp, err)
	}
	resp.Body.Close()
	if digest() == before {
		t.Error("a valid filing did not change the state digest: the digest sees nothing")
	}

	line := fmt.Sprintf("%d tried, %d refused cleanly, %d touched state", tried.Load(), clean.Load(), touched.Load())
	fmt.Printf("hostile corpus: %s (API %d in %s, CLI %d in %s, %s in all)\n", line, httpTried, httpTook.Round(time.Millisecond),
		tried.Load()-httpTried, cliTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	for _, f := range failures {
		t.Error(f)
	}
	if tried.Load() < 10_000 || clean.Load() != tried.Load() || touched.Load() != 0 {
		t.Errorf("%s; want every one of at least 10,000 refused cleanly and none touching state", line)
	}
	if d := time.Since(start); d > 2*time.Minute {
		t.Errorf("the corpus took %s, want under two minutes", d)
	}
}

// devAddresses reads the embedded Redis and the HTTP address from what
// `lifecycle dev` prints, and waits for it to answer.
func devAddresses(t *testing.T, p *harness.Process) (redisAddr, api string) {
	t.Helper()
	redisRe := regexp.MustCompile(`redis\s+redis://(127\.0\.0\.1:\d+)`)
	healthRe := regexp.MustCompile(`health\s+(http://127\.0\.0\.1:\d+)/healthz`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out := p.Output()
		if m, h := redisRe.FindStringSubmatch(out), healthRe.FindStringSubmatch(out); m != nil && h != nil {
			if resp, err := http.Get(h[1] + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return m[1], h[1]
				}
			}
		}
		if _, exited := p.Wait(50 * time.Millisecond); exited {
			t.Fatalf("lifecycle dev exited:\n%s", p.Output())
		}
	}
	t.Fatalf("lifecycle dev did not start:\n%s", p.Output())
	return "", ""
}

// send makes one request and reads the answer.
func send(c *http.Client, api string, in httpInput) (int, string, error) {
	req, err := http.NewRequest(in.method, api+in.path, strings.NewReader(in.body))
	if err != nil {
		return 0, "", err
	}
	for k, v := range in.header {
		if k == "Host" {
			req.Host = v
		} else if v != "" {
			req.Header.Set(k, v)
		}
	}
	if in.method == "POST" && in.header["Content-Type"] == "" {
		req.Header["Content-Type"] = nil // none at all, not Go's default
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.Header.Get("Content-Type") != "application/json" {
		return resp.StatusCode, string(b), fmt.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	if len(b) > 8<<10 {
		return resp.StatusCode, string(b[:200]), fmt.Errorf("a %d-byte answer", len(b))
	}
	return resp.StatusCode, string(b), err
}

// runCLI runs one command line, returning its exit status and stderr.
func runCLI(bin, dir string, in cliInput) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, in.args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range in.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		return -1, err.Error()
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// stateDigest is a digest of what an input could change: our Redis keys
// with their values, the task queues that filings and enqueues reach, and
// every file in storage with its size and content time. asynq's own
// bookkeeping (server heartbeats, statistics) changes on its own and is
// left out.
func stateDigest(t *testing.T, rdb *redis.Client, storeDir string) string {
	t.Helper()
	ctx := context.Background()
	h := sha256.New()
	keys := digestKeys(t, rdb)
	for _, k := range keys {
		typ, _ := rdb.Type(ctx, k).Result()
		var v any
		switch typ {
		case "string":
			v, _ = rdb.Get(ctx, k).Result()
		case "hash":
			m, _ := rdb.HGetAll(ctx, k).Result()
			fields := make([]string, 0, len(m))
			for f, x := range m {
				fields = append(fields, f+"="+x)
			}
			slices.Sort(fields)
			v = fields
		case "set":
			m, _ := rdb.SMembers(ctx, k).Result()
			slices.Sort(m)
			v = m
		case "zset":
			v, _ = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "list":
			v, _ = rdb.LRange(ctx, k, 0, -1).Result()
		}
		fmt.Fprintf(h, "%s %s %v\n", k, typ, v)
	}
	_ = filepath.WalkDir(storeDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, ierr := d.Info()
		if ierr == nil {
			fmt.Fprintf(h, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}

// keyDigests is stateDigest per key and per file, so that a change can be
// named: which key or file an input (or a background job) touched.
func keyDigests(t *testing.T, rdb *redis.Client, storeDir string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, k := range digestKeys(t, rdb) {
		d, _ := rdb.Dump(ctx, k).Result()
		out[k] = fmt.Sprintf("%x", sha256.Sum256([]byte(d)))
	}
	_ = filepath.WalkDir(storeDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			if info, ierr := d.Info(); ierr == nil {
				out[path] = fmt.Sprintf("%d %d", info.Size(), info.ModTime().UnixNano())
			}
		}
		return nil
	})
	return out
}

// changedKeys names the keys and files that differ between two keyDigests.
func changedKeys(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if before[k] != v {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k+" (gone)")
		}
	}
	slices.Sort(out)
	return out
}

// digestKeys lists the Redis keys an input could change: ours, and the task
// queues that filings and enqueues reach. Left out, like asynq's own
// bookkeeping: the completion records of the sweep queue, which the dev
// process's scheduled housekeeping (the dead-letter archiver, every minute)
// writes on its own.
func digestKeys(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	housekeeping := strings.TrimSuffix(rkeys.TaskCompleted(tasks.QueueSweep, "x"), "x")
	var keys []string
	for _, match := range []string{"lifecycle:*", "asynq:{erase}:*", "asynq:{photo}:*", "asynq:{merge}:*"} {
		ks, err := rdb.Keys(context.Background(), match).Result()
		if err != nil {
			t.Fatalf("redis keys: %v", err)
		}
		for _, k := range ks {
			if !strings.HasPrefix(k, housekeeping) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}
