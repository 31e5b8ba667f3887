package ibmbpm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
)

// CSRFLifetimeDefault is the CSRF token lifetime the client asks for: the
// most BPM grants.
const CSRFLifetimeDefault = 7200 * time.Second

const (
	opLogin  = "login"
	opGet    = "get avatar"
	opDelete = "delete avatar"

	maxBody = 1 << 20
)

// Config configures a Client.
type Config struct {
	BaseURL            string // e.g. https://bpm.example.com:9443
	Username, Password string // a BPM user allowed to manage avatars

	Timeout  time.Duration    // per request; upstream.TimeoutDefault if zero
	MaxConns int              // upstream.MaxConnsDefault if zero
	Limiter  upstream.Limiter // bounds concurrent calls; none if nil

	Now    func() time.Time // time.Now if nil
	Logger *zerolog.Logger  // logins; silent if nil
}

func (c *Config) validate() error {
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		return errors.New("ibmbpm: Config.BaseURL is required")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return fmt.Errorf("ibmbpm: Config.BaseURL %q is not an http(s) URL", c.BaseURL)
	case c.Username == "":
		return errors.New("ibmbpm: Config.Username is required")
	case c.Password == "":
		return errors.New("ibmbpm: Config.Password is required")
	case c.Timeout < 0:
		return errors.New("ibmbpm: Config.Timeout must not be negative")
	case c.MaxConns < 0:
		return errors.New("ibmbpm: Config.MaxConns must not be negative")
	}
	return nil
}

// Client calls BPM's avatar API. It is safe for concurrent use.
type Client struct {
	http     *http.Client
	base     string
	user     string
	password string // never logged, and blanked out of BPM's messages
	limiter  upstream.Limiter
	now      func() time.Time
	log      zerolog.Logger

	// logins makes one login for all the goroutines that need a token at
	// once.
	logins upstream.Flight[string]

	mu      sync.Mutex
	csrf    string
	prev    string // the token last dropped, still blanked out of messages
	expires time.Time
}

// New validates cfg and returns a Client. It makes no call: the first
// request logs in.
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{
		http:     upstream.NewHTTPClient(cfg.Timeout, cfg.MaxConns),
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		user:     cfg.Username,
		password: cfg.Password,
		limiter:  cfg.Limiter,
		now:      cfg.Now,
		log:      zerolog.Nop(),
	}
	if c.limiter == nil {
		c.limiter = upstream.NoLimit{}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if cfg.Logger != nil {
		c.log = *cfg.Logger
	}
	return c, nil
}

// Avatar is BPM's UserAvatar.
type Avatar struct {
	UserID              int64  `json:"userID"`
	UserName            string `json:"userName"`
	UserAvatarImage     string `json:"userAvatarImage"` // base64
	UserAvatarKey       string `json:"userAvatarKey"`
	UserUpdateTimestamp string `json:"userUpdateTimestamp"`
	ImageFormat         string `json:"imageFormat"`
	IsDefault           string `json:"isDefault"` // "true" or "false"
}

// DeleteAvatar resets a user's avatar to the default. A user whose avatar is
// already the default, or who does not exist, yields an errclass.AlreadyGone
// error (see the package documentation for why it reads before deleting).
func (c *Client) DeleteAvatar(ctx context.Context, userNameOrID string) error {
	a, err := c.getAvatar(ctx, userNameOrID)
	if err != nil {
		return err
	}
	if a.IsDefault == "true" {
		row, _ := upstream.Lookup(Evidence, opGet, http.StatusOK, "default")
		return upstream.Apply(row, &Error{Op: opGet, HTTPStatus: http.StatusOK, ErrorMessage: "avatar is already the default"})
	}
	resp, body, err := c.call(ctx, http.MethodDelete, userNameOrID)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return classify(opDelete, resp, body, c.scrub, c.now())
	}
	if _, err := decodeAvatar(opDelete, body); err != nil {
		// A 200 we cannot read proves nothing; verification's GET will tell.
		return errclass.AsUnconfirmed(err)
	}
	return nil
}

// AvatarIsDefault reports whether a user has the default avatar, to verify
// an erasure. A user BPM says it does not know (404, undocumented) is an
// unconfirmed error, not "default": it proves no absence.
func (c *Client) AvatarIsDefault(ctx context.Context, userNameOrID string) (bool, error) {
	a, err := c.getAvatar(ctx, userNameOrID)
	if err != nil {
		return false, err
	}
	return a.IsDefault == "true", nil
}

func (c *Client) getAvatar(ctx context.Context, userNameOrID string) (Avatar, error) {
	resp, body, err := c.call(ctx, http.MethodGet, userNameOrID)
	if err != nil {
		return Avatar{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Avatar{}, classify(opGet, resp, body, c.scrub, c.now())
	}
	return decodeAvatar(opGet, body)
}

func decodeAvatar(op string, body []byte) (Avatar, error) {
	var env struct {
		Status string `json:"status"`
		Data   Avatar `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status != "200" {
		return Avatar{}, &Error{Op: op, HTTPStatus: http.StatusOK, ErrorMessage: "unreadable success body"}
	}
	return env.Data, nil
}

// call sends one avatar request with the current CSRF token; if BPM calls
// the token stale, it logs in again and resends once.
func (c *Client) call(ctx context.Context, method, userNameOrID string) (*http.Response, []byte, error) {
	if userNameOrID == "" {
		return nil, nil, errclass.AsPermanent(&Error{Op: opGet, ErrorMessage: "empty user name or id"})
	}
	u := c.base + "/rest/bpm/wle/v1/avatar/" + url.PathEscape(userNameOrID)
	for attempt := 0; ; attempt++ {
		tok, err := c.token(ctx)
		if err != nil {
			return nil, nil, err
		}
		resp, body, err := c.send(ctx, method, u, tok, nil)
		if err != nil {
			return nil, nil, err
		}
		if attempt == 0 && resp.StatusCode == http.StatusForbidden {
			if w, ok := DecodeWLEError(body); ok && w.ErrorNumber == csrfStale {
				c.drop(tok)
				continue
			}
		}
		return resp, body, nil
	}
}

// token returns the CSRF token, logging in if there is none or it is old.
func (c *Client) token(ctx context.Context) (string, error) {
	if tok, ok := c.current(); ok {
		return tok, nil
	}
	return c.logins.Do(ctx, c.login)
}

// login logs in and keeps the CSRF token.
func (c *Client) login(ctx context.Context) (string, error) {
	if tok, ok := c.current(); ok { // fetched by the flight that just ended
		return tok, nil
	}
	body, _ := json.Marshal(map[string]any{"refresh_groups": true, "requested_lifetime": int(CSRFLifetimeDefault / time.Second)})
	resp, rbody, err := c.send(ctx, http.MethodPost, c.base+"/bpm/system/login", "", body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return "", classify(opLogin, resp, rbody, c.scrub, c.now())
	}
	var r struct {
		CSRFToken string `json:"csrf_token"`
	}
	if json.Unmarshal(rbody, &r) != nil || r.CSRFToken == "" {
		return "", &Error{Op: opLogin, HTTPStatus: resp.StatusCode, ErrorMessage: "no csrf_token in the reply"}
	}
	c.mu.Lock()
	// A tenth short of the lifetime asked for, so that it is renewed before
	// BPM drops it; a server granting less is caught by CWTBG0651E.
	c.csrf, c.expires = r.CSRFToken, c.now().Add(CSRFLifetimeDefault*9/10)
	c.mu.Unlock()
	c.log.Info().Ctx(ctx).Str("user", c.user).Msg("ibmbpm: logged in")
	return r.CSRFToken, nil
}

func (c *Client) current() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.csrf, c.csrf != "" && c.now().Before(c.expires)
}

// drop forgets tok unless another goroutine has already replaced it, so that
// all the requests that met one stale token cause one login.
func (c *Client) drop(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.csrf == tok {
		c.csrf, c.prev = "", tok
	}
}

// scrub blanks the password and the CSRF token out of text from BPM.
func (c *Client) scrub(s string) string {
	c.mu.Lock()
	toks := []string{c.csrf, c.prev}
	c.mu.Unlock()
	for _, secret := range append(toks, c.password) {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}

func (c *Client) send(ctx context.Context, method, u, csrf string, body []byte) (*http.Response, []byte, error) {
	release, err := c.limiter.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, errclass.AsPermanent(fmt.Errorf("ibmbpm: build request: %w", err))
	}
	req.SetBasicAuth(c.user, c.password)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("BPMCSRFToken", csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, upstream.ClassifyTransport(ctx, "ibmbpm", err)
	}
	defer resp.Body.Close()
	rbody, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, upstream.ClassifyTransport(ctx, "ibmbpm", err)
	}
	return resp, rbody, nil
}
