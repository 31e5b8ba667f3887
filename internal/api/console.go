package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Console is what the browser console (/console/) needs beyond Params.
type Console struct {
	// Sessions keeps the signed-in browsers (rkeys.ConsoleSession).
	Sessions redis.UniversalClient
	// Queues shows and acts on the queues, dead letters and periodic
	// schedule (asynq.Inspector).
	Queues ConsoleInspector
	// Monitor is asynq's monitor (asynqmon), served at /monitor/ to
	// admins; nil leaves it out.
	Monitor http.Handler
	// Sweeps lists sweep reports and restores quarantined objects
	// (sweep.Sweeper); nil, without storage, leaves the page out.
	Sweeps SweepService
}

// SweepService is what the sweeps page needs (sweep.Sweeper).
type SweepService interface {
	Reports(ctx context.Context) iter.Seq2[sweep.Report, error]
	Restore(ctx context.Context, id, prefix string) (sweep.RestoreResult, error)
}

var _ SweepService = (*sweep.Sweeper)(nil)

// ConsoleInspector is the part of asynq.Inspector the operators' pages use.
type ConsoleInspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
	ListArchivedTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	RunTask(queue, id string) error
	DeleteTask(queue, id string) error
	SchedulerEntries() ([]*asynq.SchedulerEntry, error)
}

var _ ConsoleInspector = (*asynq.Inspector)(nil)

// SessionTTL is how long a console session lasts from sign-in: a working
// day, so that a forgotten browser does not stay signed in for good.
const SessionTTL = 8 * time.Hour

const (
	sessionCookie = "lifecycle_session"
	csrfField     = "csrf"
)

//go:embed console
var consoleFS embed.FS

var consolePages = template.Must(template.New("").Funcs(template.FuncMap{
	"has": func(s session, scope string) bool { return s.All || slices.Contains(s.Scopes, apitoken.Scope(scope)) },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}).ParseFS(consoleFS, "console/*.html"))

// session is a signed-in browser: the token's name and scopes, never its
// secret, and the CSRF token every form of the session carries.
type session struct {
	ID     string           `json:"-"`
	Name   string           `json:"name"`
	Scopes []apitoken.Scope `json:"scopes"`
	All    bool             `json:"all,omitempty"`
	CSRF   string           `json:"csrf"`
	// Hash is the SHA-256 of the token's secret, as the tokens file holds
	// it: a token removed from the file, or given a new secret, ends its
	// sessions when the process restarts with the new file.
	Hash string `json:"hash"`
}

// current is s with its token's scopes as the process knows them now, or
// false if its token is gone or has a new secret.
func (s session) current(p Params) (session, bool) {
	if s.All {
		h := sha256.Sum256([]byte(p.Token))
		return s, p.Token != "" && subtle.ConstantTimeCompare([]byte(hex.EncodeToString(h[:])), []byte(s.Hash)) == 1
	}
	t, ok := p.Tokens.ByName(s.Name)
	if !ok || subtle.ConstantTimeCompare([]byte(hex.EncodeToString(t.Hash[:])), []byte(s.Hash)) != 1 {
		return s, false
	}
	s.Scopes = t.Scopes
	return s, true
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// page is what every console template gets.
type page struct {
	Title    string
	S        session
	Error    string
	Notice   string
	Problems []fieldProblem
	Data     any
}

// consoleRoutes registers the console's pages on rt, each with its scope
// (an empty scope: any signed-in caller). Pages are server-rendered; every
// form posts back with the session's CSRF token.
func consoleRoutes(rt *router, p Params) {
	c := p.Console
	render := func(w http.ResponseWriter, r *http.Request, status int, name string, pg page) {
		pg.S = sessionOf(r.Context())
		var b strings.Builder
		if err := consolePages.ExecuteTemplate(&b, name, pg); err != nil {
			p.Log.Error().Err(err).Str("page", name).Msg("console page failed")
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(b.String()))
	}
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		status, body := errorAnswer(p.Log, err)
		render(w, r, status, "error.html", page{Title: http.StatusText(status), Error: body.Error, Problems: body.Fields})
	}
	rt.forbid = func(w http.ResponseWriter, r *http.Request, msg string) {
		render(w, r, http.StatusForbidden, "error.html", page{Title: "Forbidden", Error: msg})
	}
	back := func(w http.ResponseWriter, r *http.Request, to string) {
		http.Redirect(w, r, to, http.StatusSeeOther)
	}

	rt.handle("GET", "/console/{$}", "", func(w http.ResponseWriter, r *http.Request) {
		back(w, r, "/console/erasures")
	})
	rt.handle("POST", "/console/signout", "", func(w http.ResponseWriter, r *http.Request) {
		s := sessionOf(r.Context())
		_ = c.Sessions.Del(r.Context(), rkeys.ConsoleSession(s.ID)).Err()
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		back(w, r, "/console/signin")
	})

	if p.Erasures != nil {
		svc := p.Erasures
		rt.handle("GET", "/console/erasures", apitoken.ScopeErasureRead, func(w http.ResponseWriter, r *http.Request) {
			f, _, err := listQuery(r.URL.Query())
			if err != nil {
				fail(w, r, err)
				return
			}
			recs, err := svc.List(r.Context(), f)
			if err != nil {
				fail(w, r, err)
				return
			}
			for i := range recs {
				recs[i] = view(recs[i])
			}
			render(w, r, http.StatusOK, "erasures.html", page{Title: "Erasure requests", Data: map[string]any{
				"Records": recs, "State": r.URL.Query().Get("state"), "Since": r.URL.Query().Get("since"),
			}})
		})
		rt.handle("GET", "/console/erasures/new", apitoken.ScopeErasureFile, func(w http.ResponseWriter, r *http.Request) {
			render(w, r, http.StatusOK, "file.html", page{Title: "File an erasure", Data: url.Values{}})
		})
		rt.handle("POST", "/console/erasures", apitoken.ScopeErasureFile, func(w http.ResponseWriter, r *http.Request) {
			req, err := formFiling(r.PostForm, time.Now()).request()
			if err == nil {
				var filed erasure.Filed
				if filed, err = svc.File(r.Context(), req); err == nil {
					p.Log.Info().Str("request_id", filed.Record.Request.ID).Bool("duplicate", filed.Duplicate).Msg("erasure filed from the console")
					back(w, r, "/console/erasures/"+url.PathEscape(filed.Record.Request.ID))
					return
				}
			}
			status, body := errorAnswer(p.Log, err)
			render(w, r, status, "file.html", page{Title: "File an erasure", Error: body.Error, Problems: body.Fields, Data: r.PostForm})
		})
		rt.handle("GET", "/console/erasures/{id}", apitoken.ScopeErasureRead, func(w http.ResponseWriter, r *http.Request) {
			id, err := pathID(r)
			if err != nil {
				fail(w, r, err)
				return
			}
			rec, err := svc.Get(r.Context(), id)
			if err != nil {
				fail(w, r, err)
				return
			}
			var entries []audit.Entry
			if p.Audit != nil {
				if entries, err = p.Audit.List(r.Context(), audit.Filter{Subject: id}); err != nil {
					fail(w, r, err)
					return
				}
			}
			render(w, r, http.StatusOK, "erasure.html", page{Title: "Request " + id, Data: map[string]any{
				"R": view(rec), "Audit": entries, "Receipt": p.Receipts != nil && rec.State.Status == erasure.StatusDone,
			}})
		})
		decision := func(do func(ctx context.Context, id, reason string) (erasure.Record, error), required bool) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				id, err := pathID(r)
				if err == nil {
					reason := strings.TrimSpace(r.PostForm.Get("reason"))
					switch {
					case required && reason == "":
						err = problem("reason", "required")
					case len(reason) > maxReason:
						err = problem("reason", fmt.Sprintf("longer than %d bytes", maxReason))
					default:
						_, err = do(r.Context(), id, reason)
					}
				}
				if err != nil {
					fail(w, r, err)
					return
				}
				back(w, r, "/console/erasures/"+url.PathEscape(id))
			}
		}
		rt.handle("POST", "/console/erasures/{id}/approve", apitoken.ScopeErasureApprove, decision(svc.Approve, false))
		rt.handle("POST", "/console/erasures/{id}/deny", apitoken.ScopeErasureApprove, decision(svc.Deny, true))
		rt.handle("POST", "/console/erasures/{id}/extension", apitoken.ScopeErasureApprove, decision(svc.Extend, true))
		if p.Receipts != nil {
			rt.handle("GET", "/console/erasures/{id}/receipt", apitoken.ScopeErasureRead, func(w http.ResponseWriter, r *http.Request) {
				id, err := pathID(r)
				if err != nil {
					fail(w, r, err)
					return
				}
				doc, err := p.Receipts(r.Context(), id)
				if err != nil {
					fail(w, r, err)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.json"`)
				_, _ = w.Write(doc)
			})
		}
	}

	if c.Queues != nil {
		in := c.Queues
		rt.handle("GET", "/console/deadletters", apitoken.ScopeAdmin, func(w http.ResponseWriter, r *http.Request) {
			queue, typ := r.URL.Query().Get("queue"), r.URL.Query().Get("type")
			queues, err := in.Queues()
			if err != nil {
				fail(w, r, err)
				return
			}
			var letters []*asynq.TaskInfo
			for _, q := range queues {
				if queue != "" && q != queue {
					continue
				}
				ts, err := in.ListArchivedTasks(q, asynq.PageSize(200))
				if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
					fail(w, r, err)
					return
				}
				for _, t := range ts {
					if typ == "" || t.Type == typ {
						letters = append(letters, t)
					}
				}
			}
			render(w, r, http.StatusOK, "deadletters.html", page{Title: "Dead letters", Data: map[string]any{
				"Letters": letters, "Queues": queues, "Queue": queue, "Type": typ,
			}})
		})
		letter := func(action string, do func(queue, id string) error) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				queue, id := r.PathValue("queue"), r.PathValue("id")
				if err := do(queue, id); err != nil {
					fail(w, r, &Error{http.StatusNotFound, "no dead letter " + queue + "/" + id + ": " + err.Error()})
					return
				}
				if err := audit.Record(r.Context(), audit.Entry{Action: action, Subject: queue + "/" + id}); err != nil {
					fail(w, r, err)
					return
				}
				p.Log.Info().Str("queue", queue).Str("task_id", id).Str("action", action).Msg("dead letter handled from the console")
				back(w, r, "/console/deadletters")
			}
		}
		rt.handle("POST", "/console/deadletters/{queue}/{id}/retry", apitoken.ScopeAdmin, letter(audit.DeadLetterRetry, in.RunTask))
		rt.handle("POST", "/console/deadletters/{queue}/{id}/delete", apitoken.ScopeAdmin, letter(audit.DeadLetterDelete, in.DeleteTask))
		rt.handle("GET", "/console/queues", apitoken.ScopeAdmin, func(w http.ResponseWriter, r *http.Request) {
			names, err := in.Queues()
			if err != nil {
				fail(w, r, err)
				return
			}
			var infos []*asynq.QueueInfo
			for _, q := range names {
				qi, err := in.GetQueueInfo(q)
				if err != nil {
					fail(w, r, err)
					return
				}
				infos = append(infos, qi)
			}
			entries, err := in.SchedulerEntries()
			if err != nil {
				fail(w, r, err)
				return
			}
			slices.SortFunc(entries, func(a, b *asynq.SchedulerEntry) int { return a.Next.Compare(b.Next) })
			render(w, r, http.StatusOK, "queues.html", page{Title: "Queues and schedule", Data: map[string]any{"Queues": infos, "Schedule": entries}})
		})
	}
	if c.Sweeps != nil {
		rt.handle("GET", "/console/sweeps", apitoken.ScopeAdmin, func(w http.ResponseWriter, r *http.Request) {
			var reports []sweep.Report
			for rep, err := range c.Sweeps.Reports(r.Context()) {
				if err != nil {
					fail(w, r, err)
					return
				}
				reports = append(reports, rep)
			}
			render(w, r, http.StatusOK, "sweeps.html", page{Title: "Sweeps", Data: reports})
		})
		rt.handle("POST", "/console/sweeps/{id}/restore", apitoken.ScopeAdmin, func(w http.ResponseWriter, r *http.Request) {
			id, prefix := r.PathValue("id"), strings.TrimSpace(r.PostForm.Get("prefix"))
			if err := tasks.CheckID("id", id); err != nil {
				fail(w, r, err)
				return
			}
			res, err := c.Sweeps.Restore(r.Context(), id, prefix)
			if errors.Is(err, sweep.ErrNotRestorable) {
				err = &Error{http.StatusConflict, err.Error()}
			}
			if err != nil {
				fail(w, r, err)
				return
			}
			why := ""
			if prefix != "" {
				why = "prefix " + prefix
			}
			if err := audit.Record(r.Context(), audit.Entry{Action: audit.SweepRestore, Subject: id, Why: why}); err != nil {
				fail(w, r, err)
				return
			}
			p.Log.Info().Str("sweep_id", id).Int64("restored", res.Restored).Msg("sweep restored from the console")
			render(w, r, http.StatusOK, "error.html", page{Title: "Restored", Notice: fmt.Sprintf("sweep %s: %d restored, %d missing, %d conflicts (never overwritten)", id, res.Restored, res.Missing, res.Conflicts)})
		})
	}
	if p.Audit != nil {
		rt.handle("GET", "/console/audit", apitoken.ScopeAdmin, func(w http.ResponseWriter, r *http.Request) {
			entries, err := p.Audit.List(r.Context(), audit.Filter{Subject: r.URL.Query().Get("subject")})
			if err != nil {
				fail(w, r, err)
				return
			}
			slices.Reverse(entries)
			render(w, r, http.StatusOK, "audit.html", page{Title: "Audit trail", Data: entries})
		})
	}
	if c.Monitor != nil {
		// Read only (see cmd/lifecycle/monitor.go): its changes would go
		// unaudited and its page posts without the CSRF field.
		rt.handle("GET", "/monitor/", apitoken.ScopeAdmin, c.Monitor.ServeHTTP)
	}
}

// formFiling reads the console's filing form into the API's filing, so that
// both are checked by the same code with the same messages. Bigin records
// are one per line, "Module record_id". An empty filing date is now: the
// person at the form is filing it.
func formFiling(f url.Values, now time.Time) filing {
	fl := filing{RequestID: strings.TrimSpace(f.Get("request_id")), UserID: strings.TrimSpace(f.Get("user_id")),
		BPMUser: strings.TrimSpace(f.Get("bpm_user")), FiledBy: strings.TrimSpace(f.Get("filed_by")), FiledAt: strings.TrimSpace(f.Get("filed_at"))}
	if fl.FiledAt == "" {
		fl.FiledAt = now.UTC().Format(time.RFC3339)
	}
	for line := range strings.Lines(f.Get("bigin")) {
		fields := strings.Fields(line)
		switch len(fields) {
		case 0:
		case 2:
			fl.Bigin = append(fl.Bigin, erasure.BiginRecord{Module: fields[0], RecordID: fields[1]})
		default:
			// Kept whole, so that the check names it as a bad record.
			fl.Bigin = append(fl.Bigin, erasure.BiginRecord{Module: strings.TrimSpace(line)})
		}
	}
	return fl
}

type sessionKey struct{}

func sessionOf(ctx context.Context) session {
	s, _ := ctx.Value(sessionKey{}).(session)
	return s
}

// consoleAuth lets a request with a session in: it becomes the caller (the
// audit trail names its token), and its POSTs must carry the session's CSRF
// token. Without a session a page
// redirects to sign-in; /monitor/ also takes a bearer token.
func consoleAuth(p Params, next http.Handler) http.Handler {
	bearer := authenticate(p, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		monitor := strings.HasPrefix(r.URL.Path, "/monitor/")
		if monitor && r.Header.Get("Authorization") != "" {
			bearer.ServeHTTP(w, r)
			return
		}
		s, err := loadSession(r, p.Console.Sessions)
		if err == nil {
			var ok bool
			if s, ok = s.current(p); !ok {
				_ = p.Console.Sessions.Del(r.Context(), rkeys.ConsoleSession(s.ID)).Err()
				err = redis.Nil
			}
		}
		if err != nil {
			if !errors.Is(err, redis.Nil) && !errors.Is(err, http.ErrNoCookie) {
				p.Log.Error().Err(err).Msg("console session unreadable")
			}
			if r.Method == http.MethodGet && !monitor {
				http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && !monitor {
			r.Body = http.MaxBytesReader(w, r.Body, maxErasureBody)
			if err := r.ParseForm(); err != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get(csrfField)), []byte(s.CSRF)) != 1 {
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		ctx := context.WithValue(r.Context(), sessionKey{}, s)
		ctx = context.WithValue(ctx, callerKey{}, caller{token: apitoken.Token{Name: s.Name, Scopes: s.Scopes}, all: s.All})
		if p.Audit != nil {
			ctx = audit.NewContext(ctx, p.Audit, s.Name)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func loadSession(r *http.Request, rdb redis.UniversalClient) (session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, err
	}
	b, err := rdb.Get(r.Context(), rkeys.ConsoleSession(ck.Value)).Bytes()
	if err != nil {
		return session{}, err
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil {
		return session{}, err
	}
	s.ID = ck.Value
	return s, nil
}

// signIn serves the sign-in form and makes a session from a token posted
// to it. The token is read from the form body only, never a URL, and kept
// nowhere: the session holds the token's name and scopes.
func signIn(p Params) http.Handler {
	mux := http.NewServeMux()
	show := func(w http.ResponseWriter, status int, msg string) {
		var b strings.Builder
		_ = consolePages.ExecuteTemplate(&b, "signin.html", page{Title: "Sign in", Error: msg})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(b.String()))
	}
	mux.HandleFunc("GET /console/signin", func(w http.ResponseWriter, r *http.Request) { show(w, http.StatusOK, "") })
	mux.HandleFunc("POST /console/signin", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil {
			show(w, http.StatusBadRequest, "the form could not be read")
			return
		}
		secret := r.PostForm.Get("token")
		var s session
		sum := sha256.Sum256([]byte(secret))
		if t, ok := p.Tokens.Lookup(secret); ok && secret != "" {
			s = session{Name: t.Name, Scopes: t.Scopes, Hash: hex.EncodeToString(sum[:])}
		} else if p.Token != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(p.Token)) == 1 {
			s = session{Name: allScopesTokenName, All: true, Hash: hex.EncodeToString(sum[:])}
		} else {
			p.Log.Warn().Msg("console sign-in refused: unknown token")
			show(w, http.StatusUnauthorized, "unknown token")
			return
		}
		s.ID, s.CSRF = randomID(), randomID()
		b, _ := json.Marshal(s)
		if err := p.Console.Sessions.Set(r.Context(), rkeys.ConsoleSession(s.ID), b, SessionTTL).Err(); err != nil {
			p.Log.Error().Err(err).Msg("console session not stored")
			show(w, http.StatusServiceUnavailable, "sessions cannot be stored now: try again")
			return
		}
		p.Log.Info().Str("who", s.Name).Msg("console sign-in")
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.ID, Path: "/", MaxAge: int(SessionTTL / time.Second),
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/console/erasures", http.StatusSeeOther)
	})
	static, _ := fs.Sub(consoleFS, "console")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	return mux
}
