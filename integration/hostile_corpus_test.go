package integration

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// The hostile corpus: inputs an attacker or a careless producer sends, each
// with what a clean refusal looks like. Every class of issue 13 is here,
// plus path traversal, control characters, unicode, 10 kB strings, wrong
// types and oversize bodies. It is generated from a fixed seed, so a failure
// names an input that the next run tries again.

// httpInput is one request and the refusal it must get.
type httpInput struct {
	class   string
	method  string
	path    string
	header  map[string]string // "Host" sets the Host header
	body    string
	status  int    // the status wanted; 0 for any 4xx
	mention string // what the answer must name (a field, or why)
}

// cliInput is one command line and the refusal it must get: exit 2 and
// stderr naming mention.
type cliInput struct {
	class   string
	env     map[string]string
	args    []string
	mention string
}

// Ids that the grammar refuses, and free text that the text checks refuse.
var (
	badIDs = []string{
		"X:steps", "X:plan", "a:b:c", ":", ".", "..", ".hidden", "-rf", "--help", "a/b", "../../etc/passwd",
		`a\b`, "a b", " a", "a\t", "a\nb", "a\x1b[31m", "\x7f", "a\u200bb", "é", "日本", "🙂", "a%2Fb", "%00",
		"\u202eevil", "a;b", "a'b", `a"b`, "<script>", "${HOME}", "$(id)", "a|b", "a*", "?", "#", "a,b",
		strings.Repeat("a", 129), strings.Repeat("x", 10<<10),
	}
	badText = []string{
		".", "..", "a/b", `a\b`, " lead", "trail ", "a\nb", "a\x1b[2J", "\x00", "a\rb",
		strings.Repeat("n", 257), strings.Repeat("ü", 10<<10),
	}
	badDates = []string{
		"9999-12-15T00:00:00Z", "2100-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
		"1970-01-01T00:00:00Z", "2018-05-24T23:59:59Z", "yesterday", "2026-13-45T00:00:00Z", "2026-11-20",
		"2026-11-20 09:00:00", "+275760-09-13T00:00:00Z", strings.Repeat("9", 10<<10),
	}
	// Wrong JSON types for a string member.
	wrongTypes = []string{`1`, `-1`, `1e400`, `true`, `[]`, `{}`, `["a"]`, `{"a":"b"}`}
)

// filing is a valid filing with a fresh id; hostile inputs spoil one part.
func filing(r *rand.Rand) map[string]any {
	return map[string]any{
		"request_id": fmt.Sprintf("gdpr-h%d", r.Int64()), "user_id": fmt.Sprintf("u-h%d", r.Int64()),
		"filed_by": "dpo-1", "filed_at": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339),
	}
}

// encode writes m as JSON, raw members written as they are.
func encode(m map[string]any, raw map[string]string) string {
	var b strings.Builder
	b.WriteString("{")
	first := true
	sep := func() {
		if !first {
			b.WriteString(",")
		}
		first = false
	}
	for k, v := range m {
		sep()
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v)
		b.Write(kb)
		b.WriteString(":")
		b.Write(vb)
	}
	for k, v := range raw {
		sep()
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteString(":")
		b.WriteString(v)
	}
	b.WriteString("}")
	return b.String()
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

const jsonType = "application/json"

// httpCorpus generates n inputs for the API.
func httpCorpus(r *rand.Rand, n int) []httpInput {
	post := func(class, body string, status int, mention string) httpInput {
		return httpInput{class: class, method: "POST", path: "/v1/erasures", header: map[string]string{"Content-Type": jsonType}, body: body, status: status, mention: mention}
	}
	idFields := []string{"request_id", "user_id", "filed_by"}
	gens := []func() httpInput{
		// 1. Dates out of bounds, or not dates.
		func() httpInput {
			f := filing(r)
			f["filed_at"] = badDates[r.IntN(len(badDates))]
			return post("date", encode(f, nil), 400, `"field":"filed_at"`)
		},
		// 2 and 6. Ids that could name our keys or a path segment.
		func() httpInput {
			f := filing(r)
			field := idFields[r.IntN(len(idFields))]
			f[field] = badIDs[r.IntN(len(badIDs))]
			return post("id", encode(f, nil), 0, `"field":"`+field+`"`)
		},
		// Wrong types, and null for a required member.
		func() httpInput {
			f := filing(r)
			field := []string{"request_id", "user_id", "filed_by", "filed_at", "bpm_user"}[r.IntN(5)]
			delete(f, field)
			v := wrongTypes[r.IntN(len(wrongTypes))]
			if field != "bpm_user" && r.IntN(4) == 0 {
				v = "null"
			}
			return post("wrong type", encode(f, map[string]string{field: v}), 400, `"field":"`+field+`"`)
		},
		// 6. The BPM user is a path segment.
		func() httpInput {
			f := filing(r)
			f["bpm_user"] = badText[r.IntN(len(badText))]
			return post("bpm user", encode(f, nil), 400, `"field":"bpm_user"`)
		},
		// Bigin records: bad modules, ids, shapes, duplicates, too many.
		func() httpInput {
			f := filing(r)
			var raw string
			switch r.IntN(6) {
			case 0:
				raw = fmt.Sprintf(`[{"module":%s,"record_id":"1"}]`, jsonString([]string{"Deals", "contacts", "", "Contacts:1", "../Contacts"}[r.IntN(5)]))
			case 1:
				raw = fmt.Sprintf(`[{"module":"Contacts","record_id":%s}]`, jsonString([]string{"x1", "-1", "1/2", "", strings.Repeat("9", 40), "1e3", "0x10"}[r.IntN(7)]))
			case 2:
				raw = `[{"module":"Contacts","record_id":"1"},{"module":"Contacts","record_id":"1"}]`
			case 3:
				raw = wrongTypes[r.IntN(len(wrongTypes))]
				if raw == "[]" {
					raw = `[1]`
				}
			case 4:
				raw = `[{"module":"Contacts","record_id":"1","photo":"x"}]`
			default:
				recs := make([]string, 101+r.IntN(1300)) // under the 64 kB bound
				for i := range recs {
					recs[i] = fmt.Sprintf(`{"module":"Contacts","record_id":"%d"}`, i+1)
				}
				raw = "[" + strings.Join(recs, ",") + "]"
			}
			return post("bigin", encode(f, map[string]string{"bigin": raw}), 0, `"field":"bigin`)
		},
		// 8. Slice numbers: only the worker sets one, and MaxInt64 would wrap.
		func() httpInput {
			f := filing(r)
			v := []string{"1", "-1", "9223372036854775807", "9223372036854775808", "1e400", "0", "null", `"1"`}[r.IntN(8)]
			return post("slice", encode(f, map[string]string{"slice": v}), 400, `"field":"slice"`)
		},
		// 7. Lenient JSON: duplicates, other cases, unknown members, trailing data.
		func() httpInput {
			f := filing(r)
			switch r.IntN(5) {
			case 0:
				return post("duplicate", encode(f, map[string]string{"request_id": jsonString("gdpr-dup")}), 400, `"field":"request_id"`)
			case 1:
				id := f["request_id"]
				delete(f, "request_id")
				k := []string{"REQUEST_ID", "Request_Id", "request_ID"}[r.IntN(3)]
				return post("case", encode(f, map[string]string{k: jsonString(id.(string))}), 400, `"field":"`+k+`"`)
			case 2:
				k := []string{"bpm_usr", "filedAt", "slices", "__proto__", "request_id "}[r.IntN(5)]
				return post("unknown member", encode(f, map[string]string{k: `"x"`}), 400, `"field":"`+strings.TrimSpace(k))
			case 3:
				tail := []string{" x", "{}", ",", "]", "\x00", `{"request_id":"b"}`}[r.IntN(6)]
				return post("trailing", encode(f, nil)+tail, 400, `"field":"body"`)
			default:
				body := []string{"", "null", "[]", `"x"`, "1", "{", `{"a":`, strings.Repeat("[", 5000), "\xff\xfe{}", "{\"request_id\":\"\xff\"}"}[r.IntN(10)]
				return post("not a filing", body, 400, `"field":"`)
			}
		},
		// 4. Cross-site: other content types, origins, host names.
		func() httpInput {
			in := post("cross-site", encode(filing(r), nil), 0, `"error":"`)
			switch r.IntN(6) {
			case 0:
				in.header["Content-Type"] = []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/jsonx", "application/json; charset=latin1", "json"}[r.IntN(8)]
				in.status, in.mention = 415, "Content-Type"
			case 1:
				in.header["Origin"] = []string{"https://evil.example", "null", "http://localhost.evil.example", "http://127.0.0.1:1"}[r.IntN(4)]
				in.status, in.mention = 403, "cross-origin"
			case 2:
				in.header["Sec-Fetch-Site"] = []string{"cross-site", "same-site"}[r.IntN(2)]
				in.status, in.mention = 403, "cross-site"
			case 3:
				in.header["Host"] = []string{"evil.example", "evil.example:8080", "127.0.0.1.nip.io", "localhost.evil.example", "10.0.0.1"}[r.IntN(5)]
				in.status, in.mention = 403, "LIFECYCLE_API_TOKEN"
			case 4:
				in.body = "request_id=gdpr-x&user_id=u-1&filed_by=dpo-1"
				in.header["Content-Type"] = "application/x-www-form-urlencoded"
				in.status, in.mention = 415, "Content-Type"
			default:
				in.header["Authorization"] = "Bearer " + strings.Repeat("a", 40)
				in.header["Host"] = "rebound.example"
				in.status, in.mention = 403, "LIFECYCLE_API_TOKEN"
			}
			return in
		},
		// Oversize bodies.
		func() httpInput {
			f := filing(r)
			f["bpm_user"] = strings.Repeat("x", 64<<10+r.IntN(64<<10))
			return post("oversize", encode(f, nil), 413, "too large")
		},
		// Routes: ids in paths, other methods, unknown paths.
		func() httpInput {
			switch r.IntN(3) {
			case 0:
				id := []string{"X:plan", "X:steps", "a%0Ab", "a%1B%5B31m", "%C3%A9", "-rf", ".hidden", strings.Repeat("y", 200), "a%3Ab"}[r.IntN(9)]
				return httpInput{class: "path id", method: "GET", path: "/v1/erasures/" + id, status: 400, mention: `"field":"id"`}
			case 1:
				m := []string{"PUT", "DELETE", "PATCH"}[r.IntN(3)]
				p := []string{"/v1/erasures", "/v1/erasures/gdpr-1", "/healthz", "/metrics"}[r.IntN(4)]
				return httpInput{class: "method", method: m, path: p, status: 405, mention: `"error":"Method Not Allowed"`}
			default:
				p := []string{"/v1/", "/v1/erasures/a/b", "/v2/erasures", "/v1/receipts", "/admin"}[r.IntN(5)]
				return httpInput{class: "path", method: "GET", path: p, status: 404, mention: `"error":"`}
			}
		},
	}
	out := make([]httpInput, n)
	for i := range out {
		out[i] = gens[r.IntN(len(gens))]()
	}
	return out
}

// cliCorpus generates n command lines; redisURL and storage are the dev
// process's, and gdpr-open and gdpr-done are requests already filed.
func cliCorpus(r *rand.Rand, n int, env map[string]string) []cliInput {
	argOK := func(s string) bool { return !strings.ContainsRune(s, 0) && len(s) < 4<<10 }
	pick := func(pool []string) string {
		for {
			if s := pool[r.IntN(len(pool))]; argOK(s) {
				return s
			}
		}
	}
	file := func() []string {
		return []string{"erasure", "file", "--request-id", fmt.Sprintf("gdpr-c%d", r.Int64()), "--user-id", "u-c", "--filed-by", "dpo-1"}
	}
	gens := []func() cliInput{
		func() cliInput {
			flag := []string{"--request-id", "--user-id", "--filed-by"}[r.IntN(3)]
			args := file()
			for i := range args {
				if args[i] == flag {
					args[i+1] = pick(badIDs)
				}
			}
			return cliInput{"file id", env, args, strings.TrimPrefix(strings.ReplaceAll(flag, "-", "_"), "__")}
		},
		func() cliInput {
			at := pick(badDates)
			mention := "filed"
			return cliInput{"file date", env, append(file(), "--filed-at", at), mention}
		},
		func() cliInput {
			return cliInput{"file bpm user", env, append(file(), "--bpm-user", pick(badText)), "bpm_user"}
		},
		func() cliInput {
			b := []string{"Deals:1", "Contacts:x", "Contacts", "Contacts:1,Contacts:1", ":", "Contacts:../1", "Contacts:" + strings.Repeat("9", 40)}[r.IntN(7)]
			return cliInput{"file bigin", env, append(file(), "--bigin", b), "bigin"}
		},
		func() cliInput {
			sub := []string{"status", "extend"}[r.IntN(2)]
			args := []string{"erasure", sub, pick(badIDs)}
			if sub == "extend" {
				args = append(args, "--reason", "customer asked")
			}
			if strings.HasPrefix(args[2], "-") {
				args = []string{"erasure", sub, "--", args[2]}
				if sub == "extend" {
					args = []string{"erasure", sub, "--reason", "customer asked", "--", args[3]}
				}
			}
			return cliInput{"request id", env, args, "REQUEST_ID"}
		},
		func() cliInput {
			reason := pick([]string{"a\x1b[31mred", "a\nb", "tab\there", "\u202eevil", strings.Repeat("r", 501+r.IntN(120<<10-501)), "bell\a"})
			if len(reason) >= 4<<10 {
				reason = reason[:4<<10-1]
			}
			return cliInput{"reason", env, []string{"erasure", "extend", "gdpr-open", "--reason", reason}, "--reason"}
		},
		func() cliInput {
			return cliInput{"finished", env, []string{"erasure", "extend", "gdpr-done", "--reason", "more time"}, "done"}
		},
		func() cliInput {
			id := pick(badIDs)
			switch r.IntN(3) {
			case 0:
				return cliInput{"sweep id", env, []string{"sweep", "run", "--dry-run", "--id", id}, "--id"}
			case 1:
				return cliInput{"sweep id", env, []string{"sweep", "show", "--", id}, "SWEEP_ID"}
			default:
				return cliInput{"sweep id", env, []string{"sweep", "restore", "--", id}, "SWEEP_ID"}
			}
		},
		func() cliInput {
			token := []string{" ", "  ", "\t", "x", "short-token", strings.Repeat("a", 31), strings.Repeat("a", 20) + " " + strings.Repeat("b", 20)}[r.IntN(7)]
			e := map[string]string{"LIFECYCLE_API_TOKEN": token}
			for k, v := range env {
				e[k] = v
			}
			return cliInput{"token", e, []string{"api", "--http-addr", "127.0.0.1:0"}, "LIFECYCLE_API_TOKEN"}
		},
		func() cliInput {
			field := []string{"--user-id", "--guest-id"}[r.IntN(2)]
			args := []string{"enqueue", "merge", "--guest-id", "g-c", "--user-id", "u-c"}
			for i := range args {
				if args[i] == field {
					args[i+1] = pick(badIDs)
				}
			}
			return cliInput{"enqueue", env, args, strings.ReplaceAll(strings.TrimPrefix(field, "--"), "-", "_")}
		},
	}
	out := make([]cliInput, n)
	for i := range out {
		out[i] = gens[r.IntN(len(gens))]()
	}
	return out
}
