package bigin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
)

// The modules whose records have photos.
const (
	ModuleContacts = "Contacts"
	ModuleAccounts = "Accounts" // "Companies" in Bigin's interface
	ModuleProducts = "Products"
)

// DataCenters maps a Zoho data centre to its accounts server and API domain.
var DataCenters = map[string]struct{ AccountsURL, APIDomain string }{
	"us": {"https://accounts.zoho.com", "https://www.zohoapis.com"},
	"eu": {"https://accounts.zoho.eu", "https://www.zohoapis.eu"},
	"in": {"https://accounts.zoho.in", "https://www.zohoapis.in"},
	"au": {"https://accounts.zoho.com.au", "https://www.zohoapis.com.au"},
	"jp": {"https://accounts.zoho.jp", "https://www.zohoapis.jp"},
	"cn": {"https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"},
	"sa": {"https://accounts.zoho.sa", "https://www.zohoapis.sa"},
	"ca": {"https://accounts.zohocloud.ca", "https://www.zohoapis.ca"},
}

// Config configures a Client. The credentials are those of a Zoho self
// client (or server-based client) holding a ZohoBigin.modules DELETE scope.
type Config struct {
	// AccountsURL and APIDomain are the OAuth server and the API host; each
	// one left empty is derived from DataCenter.
	AccountsURL, APIDomain string
	DataCenter             string // us, eu, in, au, jp, cn, sa or ca

	ClientID, ClientSecret, RefreshToken string

	Timeout  time.Duration    // per request; upstream.TimeoutDefault if zero
	MaxConns int              // upstream.MaxConnsDefault if zero
	Limiter  upstream.Limiter // bounds concurrent API calls; none if nil

	// Redis holds the access token shared by every worker process. Required:
	// without it each process would mint its own tokens, and a refresh
	// token may mint only 10 per 10 minutes.
	Redis redis.UniversalClient

	Now    func() time.Time // time.Now if nil
	Logger *zerolog.Logger  // token refreshes; silent if nil
}

func (c *Config) validate() error {
	if dc, ok := DataCenters[strings.ToLower(c.DataCenter)]; ok {
		c.AccountsURL = cmp.Or(c.AccountsURL, dc.AccountsURL)
		c.APIDomain = cmp.Or(c.APIDomain, dc.APIDomain)
	} else if c.DataCenter != "" {
		return fmt.Errorf("bigin: Config.DataCenter %q is not one of us, eu, in, au, jp, cn, sa, ca", c.DataCenter)
	}
	for _, f := range []struct{ name, v string }{
		{"AccountsURL", c.AccountsURL},
		{"APIDomain", c.APIDomain},
	} {
		if f.v == "" {
			return fmt.Errorf("bigin: Config.%s is required (or set Config.DataCenter)", f.name)
		}
		u, err := url.Parse(f.v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("bigin: Config.%s %q is not an http(s) URL", f.name, f.v)
		}
	}
	// The values are secrets: the messages name the field, never the value.
	switch {
	case c.ClientID == "":
		return errors.New("bigin: Config.ClientID is required")
	case c.ClientSecret == "":
		return errors.New("bigin: Config.ClientSecret is required")
	case c.RefreshToken == "":
		return errors.New("bigin: Config.RefreshToken is required")
	case c.Redis == nil:
		return errors.New("bigin: Config.Redis is required (the access token is shared by every process)")
	case c.Timeout < 0:
		return errors.New("bigin: Config.Timeout must not be negative")
	case c.MaxConns < 0:
		return errors.New("bigin: Config.MaxConns must not be negative")
	}
	return nil
}

// Client calls the Bigin API. It is safe for concurrent use.
type Client struct {
	http      *http.Client
	apiDomain string
	limiter   upstream.Limiter
	tokens    *tokenSource
	now       func() time.Time
}

// New validates cfg and returns a Client. It makes no call: the first token
// is fetched by the first request.
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Limiter == nil {
		cfg.Limiter = upstream.NoLimit{}
	}
	log := zerolog.Nop()
	if cfg.Logger != nil {
		log = *cfg.Logger
	}
	hc := upstream.NewHTTPClient(cfg.Timeout, cfg.MaxConns)
	return &Client{
		http:      hc,
		apiDomain: strings.TrimRight(cfg.APIDomain, "/"),
		limiter:   cfg.Limiter,
		now:       cfg.Now,
		tokens: newTokenSource(tokenParams{
			rdb:          cfg.Redis,
			http:         hc,
			accountsURL:  cfg.AccountsURL,
			clientID:     cfg.ClientID,
			secret:       cfg.ClientSecret,
			refreshToken: cfg.RefreshToken,
			timeout:      hc.Timeout,
			now:          cfg.Now,
			log:          log,
		}),
	}, nil
}

// DeleteRecordPhoto deletes the photo of a record. A record without a photo,
// or no longer there, yields an errclass.AlreadyGone error.
func (c *Client) DeleteRecordPhoto(ctx context.Context, module, recordID string) error {
	resp, body, err := c.call(ctx, opDelete, http.MethodDelete, module, recordID)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var r envelope
		if json.Unmarshal(body, &r) == nil && r.Status == "success" {
			return nil
		}
		// A 200 that does not say success proves nothing either way.
		return errclass.AsUnconfirmed(&Error{Op: opDelete, HTTPStatus: resp.StatusCode, Code: r.Code, Message: "unexpected reply"})
	case http.StatusNoContent:
		// Undocumented (an assumption row of Evidence): not proof of absence.
		row, _ := upstream.Lookup(Evidence, opDelete, http.StatusNoContent, "")
		return upstream.Apply(row, &Error{Op: opDelete, HTTPStatus: resp.StatusCode, Message: "record has no photo"})
	}
	return c.fail(opDelete, resp, body)
}

// HasRecordPhoto reports whether a record has a photo, to verify an erasure.
// A record that does not exist has none.
func (c *Client) HasRecordPhoto(ctx context.Context, module, recordID string) (bool, error) {
	resp, body, err := c.call(ctx, opGet, http.MethodGet, module, recordID)
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNoContent:
		return false, nil
	}
	// INVALID_DATA is unconfirmed here too: a wrong module or id answers it
	// while the photo stays.
	return false, c.fail(opGet, resp, body)
}

// envelope is Bigin's reply body, success or error.
type envelope struct {
	Code    string         `json:"code"`
	Details map[string]any `json:"details"`
	Message string         `json:"message"`
	Status  string         `json:"status"`
}

func (c *Client) fail(op string, resp *http.Response, body []byte) error {
	e := &Error{Op: op, HTTPStatus: resp.StatusCode}
	var r envelope
	if json.Unmarshal(body, &r) == nil {
		e.Code, e.Message, e.Details = r.Code, r.Message, r.Details
	}
	if e.Code == "" && e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return classify(e, resp, c.now())
}

// call sends one request with the shared token. If Bigin rejects the token,
// it drops it, gets another (refreshed once across all processes) and
// resends once; a second rejection is returned to the caller.
func (c *Client) call(ctx context.Context, op, method, module, recordID string) (*http.Response, []byte, error) {
	if err := checkRef(op, module, recordID); err != nil {
		return nil, nil, err
	}
	u := c.apiDomain + "/bigin/v2/" + module + "/" + url.PathEscape(recordID) + "/photo"
	for attempt := 0; ; attempt++ {
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return nil, nil, err
		}
		resp, body, err := c.send(ctx, method, u, tok)
		if err != nil {
			return nil, nil, err
		}
		if attempt == 0 && resp.StatusCode == http.StatusUnauthorized && codeOf(body) == "INVALID_TOKEN" {
			if err := c.tokens.invalidate(ctx, tok); err != nil {
				return nil, nil, err
			}
			continue
		}
		return resp, body, nil
	}
}

func (c *Client) send(ctx context.Context, method, u, tok string) (*http.Response, []byte, error) {
	release, err := c.limiter.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, nil, errclass.AsPermanent(fmt.Errorf("bigin: build request: %w", err))
	}
	req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, upstream.ClassifyTransport(ctx, "bigin", err)
	}
	defer resp.Body.Close()
	if method == http.MethodGet && resp.StatusCode == http.StatusOK {
		// The photo itself: not needed, only its presence. Drain a little so
		// the connection can be reused, and drop the rest.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return resp, nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, upstream.ClassifyTransport(ctx, "bigin", err)
	}
	return resp, body, nil
}

func codeOf(body []byte) string {
	var r envelope
	_ = json.Unmarshal(body, &r)
	return r.Code
}

// checkRef rejects a module or id that Bigin could never accept, before any
// call: a malformed id is a producer's bug, which no retry fixes.
func checkRef(op, module, recordID string) error {
	switch module {
	case ModuleContacts, ModuleAccounts, ModuleProducts:
	default:
		return errclass.AsPermanent(&Error{Op: op, Code: "INVALID_MODULE",
			Message: fmt.Sprintf("module %q is not Contacts, Accounts or Products", module)})
	}
	if recordID == "" || len(recordID) > 32 || strings.Trim(recordID, "0123456789") != "" {
		return errclass.AsPermanent(&Error{Op: op, Code: "INVALID_DATA",
			Message: fmt.Sprintf("record id %q is not a Bigin record id (digits)", recordID)})
	}
	return nil
}
