package artifi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
)

// System is the name of Artifi in semaphores, metrics and errors.
const System = "artifi"

// Defaults.
const (
	PageSizeDefault = upstream.PhotoPageSizeDefault
	maxBody         = 1 << 20 // bigger answers are not Artifi's
)

// Config is the client's configuration. BaseURL, WebsiteID and ClientKey are
// required; the rest have defaults.
type Config struct {
	BaseURL   string // e.g. https://api.artifi.net
	WebsiteID int
	ClientKey string // webApiClientKey; never logged nor put in an error
	Timeout   time.Duration
	MaxConns  int
	Limiter   upstream.Limiter // default: upstream.NoLimit
	Now       func() time.Time // default: time.Now
}

func (c *Config) validate() error {
	if c.BaseURL == "" {
		return errors.New("artifi: Config.BaseURL is required")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("artifi: Config.BaseURL %q is not an http(s) URL", c.BaseURL)
	}
	if u.RawQuery != "" || u.User != nil {
		return errors.New("artifi: Config.BaseURL must not carry a query or user info")
	}
	if c.WebsiteID <= 0 {
		return fmt.Errorf("artifi: Config.WebsiteID must be positive, got %d", c.WebsiteID)
	}
	if strings.TrimSpace(c.ClientKey) == "" {
		return errors.New("artifi: Config.ClientKey is required")
	}
	if c.Timeout < 0 || c.MaxConns < 0 {
		return errors.New("artifi: Config.Timeout and Config.MaxConns must not be negative")
	}
	return nil
}

// Client calls Artifi. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	http *http.Client
}

// New validates cfg and returns a client.
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Limiter == nil {
		cfg.Limiter = upstream.NoLimit{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base, _ := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	hc := upstream.NewHTTPClient(cfg.Timeout, cfg.MaxConns)
	// A redirect would carry the credential headers (or the v3 query) to
	// wherever it points; decode reports it instead.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{cfg: cfg, base: base, http: hc}, nil
}

// DeleteUserPhotoV3 deletes one photo with the v3 API, which takes the
// credentials in the query string. A photo or user Artifi does not know is
// reported as already gone (errclass.AlreadyGone).
func (c *Client) DeleteUserPhotoV3(ctx context.Context, userID, photoID string) error {
	if err := required(opDeleteV3, "userId", userID, "photoId", photoID); err != nil {
		return err
	}
	q := url.Values{
		"websiteId":       {strconv.Itoa(c.cfg.WebsiteID)},
		"webApiClientKey": {c.cfg.ClientKey},
		"userId":          {userID},
		"photoId":         {photoID},
	}
	_, err := c.do(ctx, opDeleteV3, http.MethodGet, "/api/3/UploadImage/DeleteUserPhoto", q, false)
	return err
}

// DeleteUserPhotoV4 deletes one photo with the v4 API (credentials as
// headers). A photo or user Artifi does not know is reported as already gone.
func (c *Client) DeleteUserPhotoV4(ctx context.Context, userID, photoID string) error {
	if err := required(opDeleteV4, "userId", userID, "photoId", photoID); err != nil {
		return err
	}
	q := url.Values{"userId": {userID}, "photoId": {photoID}}
	_, err := c.do(ctx, opDeleteV4, http.MethodGet, "/api/4/UploadImage/DeleteUserPhoto", q, true)
	return err
}

// PhotoPage is one page of a user's uploaded photos.
type PhotoPage = upstream.PhotoPage

// ListUserPhotos returns page pageIndex (1-based) of userID's photos. A user
// Artifi does not know is an error matching ErrInvalidUserID, classified
// AlreadyGone.
func (c *Client) ListUserPhotos(ctx context.Context, userID string, pageIndex, pageSize int) (PhotoPage, error) {
	if err := required(opList, "userId", userID); err != nil {
		return PhotoPage{}, err
	}
	if pageIndex < 1 || pageSize < 1 {
		return PhotoPage{}, errclass.AsPermanent(fmt.Errorf("artifi %s: pageIndex and pageSize must be at least 1", opList))
	}
	q := url.Values{
		"userId":    {userID},
		"pageIndex": {strconv.Itoa(pageIndex)},
		"pageSize":  {strconv.Itoa(pageSize)},
		"searchKey": {""},
	}
	env, err := c.do(ctx, opList, http.MethodGet, "/api/4/UploadImage/GetUserUploadedList", q, true)
	if err != nil {
		return PhotoPage{}, err
	}
	var data struct {
		AssetCount *int `json:"AssetCount"`
		AssetList  []struct {
			ID json.RawMessage `json:"Id"`
		} `json:"AssetList"`
	}
	if len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, &data); err != nil {
			return PhotoPage{}, errclass.RetryAfter(&Error{Op: opList, HTTPStatus: http.StatusOK,
				Message: "unreadable Data: " + err.Error(), kind: ErrUnexpected}, 0)
		}
	}
	page := PhotoPage{IDs: make([]string, 0, len(data.AssetList))}
	if data.AssetCount != nil {
		page.AssetCount, page.Counted = *data.AssetCount, true
	}
	for _, a := range data.AssetList {
		id := idString(a.ID)
		if id == "" {
			return PhotoPage{}, errclass.RetryAfter(&Error{Op: opList, HTTPStatus: http.StatusOK,
				Message: "asset without an Id", kind: ErrUnexpected}, 0)
		}
		page.IDs = append(page.IDs, id)
	}
	return page, nil
}

// idString reads an id that Artifi sends as a number or as a string.
func idString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// AllUserPhotoIDs returns the ids of every photo of userID, reading every
// page until an empty one. The listing is undocumented (no seed shows it), so
// it must prove itself complete (upstream.AllPages): a page without its
// total, pages that end short of it, or a total that changes is an
// unconfirmed error, never a short list. A user Artifi says it does not know
// (227, 261) is unconfirmed too: "unknown" proves no absence.
func (c *Client) AllUserPhotoIDs(ctx context.Context, userID string) ([]string, error) {
	return upstream.AllPages(ctx, "artifi "+opList+" of "+userID, func(ctx context.Context, page int) (PhotoPage, error) {
		return c.ListUserPhotos(ctx, userID, page, PageSizeDefault)
	})
}

// DeleteDesignsByUserID deletes every design of userID. A user Artifi does
// not know has none: AlreadyGone.
func (c *Client) DeleteDesignsByUserID(ctx context.Context, userID string) error {
	if err := required(opDeleteDesigns, "userId", userID); err != nil {
		return err
	}
	_, err := c.do(ctx, opDeleteDesigns, http.MethodDelete, "/api/4/Design/DeleteDesignsbyUserId", url.Values{"userId": {userID}}, true)
	return err
}

// UpdateUserID moves everything of oldUserID (designs, cart, photos) to
// newUserID, as after a guest's checkout. An unknown oldUserID (code 232) is
// an error matching ErrInvalidOldUserID classified AlreadyGone: on a retry it
// most likely means the first attempt was applied and its answer lost, and
// otherwise that the guest never had anything in Artifi. UpdateUserId is not
// idempotent, so callers that need certainty check the new user's data.
func (c *Client) UpdateUserID(ctx context.Context, newUserID, oldUserID string, isGuest bool) error {
	if err := required(opUpdateUserID, "newUserId", newUserID, "oldUserId", oldUserID); err != nil {
		return err
	}
	q := url.Values{
		"newUserId": {newUserID},
		"oldUserId": {oldUserID},
		"isGuest":   {strconv.FormatBool(isGuest)},
	}
	_, err := c.do(ctx, opUpdateUserID, http.MethodPut, "/api/4/User/UpdateUserId", q, true)
	return err
}

// required rejects empty parameters before any call: Artifi would answer
// with a validation error, and no retry can fill them in.
func required(op string, nameValue ...string) error {
	for i := 0; i+1 < len(nameValue); i += 2 {
		if strings.TrimSpace(nameValue[i+1]) == "" {
			return errclass.AsPermanent(fmt.Errorf("artifi %s: %s is empty", op, nameValue[i]))
		}
	}
	return nil
}

// do makes one call, holding a limiter slot for its whole duration, and
// returns the success envelope or a classified error.
func (c *Client) do(ctx context.Context, op, method, path string, q url.Values, v4Headers bool) (*envelope, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, errclass.AsPermanent(fmt.Errorf("artifi %s: build request: %w", op, c.redactErr(err)))
	}
	req.Header.Set("Accept", "application/json")
	if v4Headers {
		req.Header.Set("websiteId", strconv.Itoa(c.cfg.WebsiteID))
		req.Header.Set("webApiClientKey", c.cfg.ClientKey)
	}

	release, err := c.cfg.Limiter.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("artifi %s: limiter: %w", op, err)
	}
	defer release()

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, upstream.ClassifyTransport(ctx, System+" "+op, c.redactErr(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, upstream.ClassifyTransport(ctx, System+" "+op, c.redactErr(err))
	}
	return c.decode(op, resp, body)
}

// redact removes the client key from text Artifi or net/http hands us.
func (c *Client) redact(s string) string {
	if c.cfg.ClientKey == "" {
		return s
	}
	s = strings.ReplaceAll(s, c.cfg.ClientKey, "REDACTED")
	// The v3 query carries the key URL-encoded.
	if enc := url.QueryEscape(c.cfg.ClientKey); enc != c.cfg.ClientKey {
		s = strings.ReplaceAll(s, enc, "REDACTED")
	}
	return s
}

// redactErr keeps err's chain (so errors.Is and net.Error still work) but
// rewrites the URL that *url.Error prints, which for v3 holds the key.
func (c *Client) redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		cp := *ue
		cp.URL = c.redact(ue.URL)
		if ue == err {
			return &cp
		}
		return redacted{msg: c.redact(err.Error()), err: &cp}
	}
	if msg := err.Error(); c.redact(msg) != msg {
		// Not unwrappable: the original would print the key.
		return errors.New(c.redact(msg))
	}
	return err
}

// redacted is a *url.Error wrapped by others, with the text of the whole
// chain scrubbed; Unwrap reaches only the scrubbed copy.
type redacted struct {
	msg string
	err error
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }
