package bigin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/lease"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
)

// Token cache tuning; Config may not change them, tests of this package do.
const (
	// tokenMarginMax is the most a cached token's life is cut by, so that a
	// token is not sent seconds before Zoho expires it (clock skew, queueing).
	tokenMarginMax = 5 * time.Minute
	// tokenLifetimeDefault is used when the token endpoint omits expires_in.
	tokenLifetimeDefault = time.Hour
	// tokenPollDefault is how often a process that waits for another's
	// refresh looks at Redis again.
	tokenPollDefault = 50 * time.Millisecond
	// maxBody bounds what is read of any response we decode.
	maxBody = 1 << 20
)

// tokenSource hands out the shared access token, refreshing it when neither
// this process nor Redis has a live one.
type tokenSource struct {
	rdb         redis.UniversalClient
	http        *http.Client
	accountsURL string
	form        url.Values // holds the client secret and refresh token: never log it
	key, lock   string
	holder      string // this source's owner name in the lock lease
	lockTTL     time.Duration
	poll        time.Duration
	now         func() time.Time
	log         zerolog.Logger

	// refresh makes one trip to Redis and the token endpoint for all of
	// this process's goroutines that miss the token at once.
	refresh upstream.Flight[string]

	mu      sync.Mutex
	cur     string
	expires time.Time
}

type tokenParams struct {
	rdb                                         redis.UniversalClient
	http                                        *http.Client
	accountsURL, clientID, secret, refreshToken string
	timeout                                     time.Duration
	now                                         func() time.Time
	log                                         zerolog.Logger
}

func newTokenSource(p tokenParams) *tokenSource {
	fp := fingerprint(p.clientID, p.refreshToken)
	var b [12]byte
	_, _ = rand.Read(b[:])
	return &tokenSource{
		rdb:         p.rdb,
		http:        p.http,
		accountsURL: strings.TrimRight(p.accountsURL, "/") + "/oauth/v2/token",
		form: url.Values{
			"client_id":     {p.clientID},
			"client_secret": {p.secret},
			"grant_type":    {"refresh_token"},
			"refresh_token": {p.refreshToken},
		},
		key:    rkeys.ZohoToken(fp),
		lock:   rkeys.ZohoTokenLock(fp),
		holder: hex.EncodeToString(b[:]),
		// Longer than one refresh can take, so the lock outlives a slow
		// refresh, yet short enough that a crashed holder blocks others only
		// briefly.
		lockTTL: p.timeout + 5*time.Second,
		poll:    tokenPollDefault,
		now:     p.now,
		log:     p.log.With().Str("token", fp).Logger(),
	}
}

// fingerprint names a credential pair in Redis keys and logs without
// revealing it: a truncated SHA-256 of client id and refresh token.
func fingerprint(clientID, refreshToken string) string {
	h := sha256.Sum256([]byte(clientID + "\x00" + refreshToken))
	return hex.EncodeToString(h[:8])
}

// margin is how much earlier than Zoho a cached token is dropped: a tenth of
// its life, at most tokenMarginMax (5 min of an hour; 200 ms of 2 s in tests).
func margin(life time.Duration) time.Duration { return min(tokenMarginMax, life/10) }

func (ts *tokenSource) local() (string, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.cur != "" && ts.now().Before(ts.expires) {
		return ts.cur, true
	}
	return "", false
}

func (ts *tokenSource) setLocal(tok string, ttl time.Duration) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.cur, ts.expires = tok, ts.now().Add(ttl)
}

// token returns a live access token: this process's copy, else Redis's, else
// a fresh one minted by whichever process wins the refresh lock.
func (ts *tokenSource) token(ctx context.Context) (string, error) {
	if tok, ok := ts.local(); ok {
		return tok, nil
	}
	return ts.refresh.Do(ctx, ts.shared)
}

// shared returns the token in Redis, else one minted by whichever process
// takes the refresh lock.
func (ts *tokenSource) shared(ctx context.Context) (string, error) {
	if tok, ok := ts.local(); ok { // fetched by the flight that just ended
		return tok, nil
	}
	for {
		tok, err := ts.fromRedis(ctx)
		if err != nil || tok != "" {
			return tok, err
		}
		l, err := lease.Acquire(ctx, ts.rdb, ts.holder, ts.lockTTL, ts.lock)
		if err == nil {
			return ts.refreshLocked(ctx, l)
		}
		if !errors.Is(err, lease.ErrHeld) {
			return "", fmt.Errorf("bigin: token lock: %w", err)
		}
		// Another process is refreshing: wait for its token rather than
		// minting a second one.
		t := time.NewTimer(ts.poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		}
	}
}

// fromRedis reads the shared token and its remaining life; "" if none.
func (ts *tokenSource) fromRedis(ctx context.Context) (string, error) {
	pipe := ts.rdb.Pipeline()
	get := pipe.Get(ctx, ts.key)
	pttl := pipe.PTTL(ctx, ts.key)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("bigin: read cached token: %w", err)
	}
	tok, ttl := get.Val(), pttl.Val()
	if tok == "" || ttl <= 0 {
		// Missing, or (never written so) without expiry: do not trust it.
		return "", nil
	}
	ts.setLocal(tok, ttl)
	return tok, nil
}

// refreshLocked mints a token while holding the refresh lock, and releases
// it. The lock's lease outlasts the one request a refresh makes, so it is not
// checked for loss: a token minted after a loss is still good, merely a
// second one.
func (ts *tokenSource) refreshLocked(ctx context.Context, l *lease.Lease) (string, error) {
	defer func() {
		// Release even if ctx is done: the lock would otherwise block every
		// process until it expires.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		l.Release(rctx)
	}()
	// The previous holder may have stored a token between our read and our
	// lock: re-read so that it is not minted twice.
	if tok, err := ts.fromRedis(ctx); err != nil || tok != "" {
		return tok, err
	}
	tok, life, err := ts.mint(ctx)
	if err != nil {
		return "", err
	}
	ttl := life - margin(life)
	if err := ts.rdb.Set(ctx, ts.key, tok, ttl).Err(); err != nil {
		// The token is good; only sharing it failed. Use it here.
		ts.log.Warn().Ctx(ctx).Err(err).Msg("bigin: could not cache the access token in Redis")
	}
	ts.setLocal(tok, ttl)
	ts.log.Info().Ctx(ctx).Float64("ttl_s", ttl.Seconds()).Msg("bigin: access token refreshed")
	return tok, nil
}

// tokenReply is the accounts server's answer; errors come with HTTP 200 and
// an "error" field.
type tokenReply struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int64  `json:"expires_in"`
	APIDomain        string `json:"api_domain"`
	TokenType        string `json:"token_type"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// mint asks the accounts server for a new access token.
func (ts *tokenSource) mint(ctx context.Context) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.accountsURL, strings.NewReader(ts.form.Encode()))
	if err != nil {
		return "", 0, errclass.AsPermanent(fmt.Errorf("bigin: token request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := ts.http.Do(req)
	if err != nil {
		return "", 0, upstream.ClassifyTransport(ctx, "bigin token", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", 0, upstream.ClassifyTransport(ctx, "bigin token", err)
	}
	var r tokenReply
	jsonErr := json.Unmarshal(body, &r)
	if resp.StatusCode == http.StatusOK && jsonErr == nil && r.Error == "" && r.AccessToken != "" {
		life := time.Duration(r.ExpiresIn) * time.Second
		if life <= 0 {
			life = tokenLifetimeDefault
		}
		return r.AccessToken, life, nil
	}
	e := &Error{Op: opRefresh, HTTPStatus: resp.StatusCode, Code: r.Error, Message: r.ErrorDescription}
	switch {
	case r.Error == tokenAccessDenied:
		return "", 0, errclass.Throttled(e, tokenRateLimitWait)
	case r.Error != "" && resp.StatusCode < 500:
		// invalid_client, invalid_code (a revoked or wrong refresh token),
		// unsupported_grant_type: our configuration is wrong.
		return "", 0, errclass.AsPermanent(e)
	case resp.StatusCode == http.StatusOK:
		// 200 without a token or an error, most likely a proxy's page:
		// unexplained, hence retryable (see errclass).
		e.Message = "no access_token in the reply"
		return "", 0, e
	}
	return "", 0, upstream.ClassifyStatus(e, resp, ts.now())
}

// invalidate drops tok, which Bigin has just rejected, from Redis, unless
// another process has already replaced it there, and then from this process.
// In that order: a goroutine that misses the token here reads Redis, and
// would otherwise find tok still there and bring it back for the others.
func (ts *tokenSource) invalidate(ctx context.Context, tok string) error {
	err := lease.DeleteIf(ctx, ts.rdb, ts.key, tok)
	ts.mu.Lock()
	if ts.cur == tok {
		ts.cur = ""
	}
	ts.mu.Unlock()
	if err != nil {
		return fmt.Errorf("bigin: drop rejected token: %w", err)
	}
	return nil
}
