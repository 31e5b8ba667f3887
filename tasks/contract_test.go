package tasks

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The wire contract (CONTRACT.md) checked against the code: schema/*.json
// are generated here from the payload structs, and testdata/taskid-vectors.json
// holds payloads with the task ids a producer in any language must compute.
// `go generate` (doc.go) rewrites the schemas; the vectors are written once
// per payload and never rewritten: a changed id is a broken contract.

var update = flag.Bool("update", false, "rewrite schema/*.json from the payload structs")

// idPattern is IDGrammar as a regular expression.
const idPattern = `^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`

// wireTypes are the task types a producer sends, with their payload structs.
var wireTypes = []struct {
	typ     string
	payload reflect.Type
	file    string
}{
	{TypePhotoDelete, reflect.TypeFor[PhotoDeletePayload](), "photo-delete.json"},
	{TypeUserMerge, reflect.TypeFor[UserMergePayload](), "user-merge.json"},
	{TypeUserErase, reflect.TypeFor[UserErasePayload](), "user-erase.json"},
	{TypeAssetsSweep, reflect.TypeFor[AssetsSweepPayload](), "assets-sweep.json"},
}

// fieldRules are what Validate checks beyond a field's JSON type, keyed by
// struct.json-name. A payload field missing here fails the test: every field
// of the contract is described.
var fieldRules = map[string]map[string]any{
	"PhotoDeletePayload.system":     {"enum": photoSystems},
	"PhotoDeletePayload.user_id":    {"pattern": idPattern},
	"PhotoDeletePayload.request_id": {"pattern": idPattern},
	"PhotoDeletePayload.photo_id":   {"pattern": idPattern},
	"PhotoDeletePayload.module":     {"enum": biginModules},
	"PhotoDeletePayload.record_id":  {"pattern": "^[0-9]{1,32}$"},
	"PhotoDeletePayload.user":       {"minLength": 1, "maxLength": maxBPMUserLen, "pattern": `^[^\s/\\]([^/\\]*[^\s/\\])?$`},
	"PhotoDeletePayload.key":        {"minLength": 1, "maxLength": maxStorageKeyLen, "pattern": `^users/[A-Za-z0-9][A-Za-z0-9._@-]{0,127}/[^\\]+$`},
	"UserMergePayload.guest_id":     {"pattern": idPattern},
	"UserMergePayload.user_id":      {"pattern": idPattern},
	"UserMergePayload.request_id":   {"pattern": idPattern},
	"UserErasePayload.request_id":   {"pattern": idPattern},
	"UserErasePayload.user_id":      {"pattern": idPattern},
	"UserErasePayload.bigin":        {"maxItems": maxBiginRecords, "uniqueItems": true},
	"UserErasePayload.bpm_user":     {"minLength": 1, "maxLength": maxBPMUserLen, "pattern": `^[^\s/\\]([^/\\]*[^\s/\\])?$`},
	"UserErasePayload.filed_by":     {"pattern": idPattern},
	"UserErasePayload.filed_at":     {"format": "date-time", "description": "RFC 3339; not before 2018-05-25, not later than now plus 5 minutes"},
	"UserErasePayload.slice":        {"minimum": 0, "maximum": MaxSlice, "description": "set by the worker only; producers leave it out"},
	"BiginRecord.module":            {"enum": biginModules},
	"BiginRecord.record_id":         {"pattern": "^[0-9]{1,32}$"},
	"AssetsSweepPayload.sweep_id":   {"pattern": idPattern, "description": "required except in the scheduler's own firings"},
	"AssetsSweepPayload.mode":       {"enum": SweepModes, "default": SweepModeQuarantine},
	"AssetsSweepPayload.dry_run":    {"default": false},
}

// photoVariants is PhotoDeletePayload's doc table as JSON Schema: per
// system, the fields it requires; every other variant field must be absent.
var photoVariants = []struct {
	systems  []string
	required []string
}{
	{[]string{SystemArtifiV3, SystemArtifiV4}, []string{"photo_id"}},
	{[]string{SystemBigin}, []string{"module", "record_id"}},
	{[]string{SystemIBMBPM}, []string{"user"}},
	{[]string{SystemStorage}, []string{"key"}},
}

func schemaOf(t *testing.T, typ string, pt reflect.Type) map[string]any {
	t.Helper()
	s := objectSchema(t, pt)
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://github.com/lifecycle-worker/lifecycle/tasks/schema/" + strings.ReplaceAll(typ, ":", "-") + ".json"
	s["title"] = typ + " payload"
	pol, ok := PolicyFor(typ)
	if !ok {
		t.Fatalf("%s has no policy", typ)
	}
	s["x-lifecycle-policy"] = map[string]any{
		"task_type": typ, "queue": pol.Queue, "max_retry": pol.MaxRetry,
		"timeout_seconds": pol.Timeout / time.Second, "retention_seconds": pol.Retention / time.Second,
		"backoff_base_seconds": pol.Backoff.Base / time.Second, "backoff_cap_seconds": pol.Backoff.Cap / time.Second,
	}
	if typ == TypePhotoDelete {
		variantFields := []string{"photo_id", "module", "record_id", "user", "key"}
		var all []any
		for _, v := range photoVariants {
			then := map[string]any{"required": v.required}
			var absent []any
			for _, f := range variantFields {
				if !contains(v.required, f) {
					absent = append(absent, map[string]any{"required": []string{f}})
				}
			}
			then["not"] = map[string]any{"anyOf": absent}
			all = append(all, map[string]any{
				"if":   map[string]any{"properties": map[string]any{"system": map[string]any{"enum": v.systems}}},
				"then": then,
			})
		}
		s["allOf"] = all
	}
	return s
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func objectSchema(t *testing.T, st reflect.Type) map[string]any {
	t.Helper()
	props := map[string]any{}
	required := []string{}
	for i := range st.NumField() {
		f := st.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			t.Fatalf("%s.%s has no JSON name", st.Name(), f.Name)
		}
		p := typeSchema(t, f.Type)
		rules, ok := fieldRules[st.Name()+"."+name]
		if !ok {
			t.Fatalf("%s.%s: no rules in fieldRules: describe every field of the contract", st.Name(), name)
		}
		for k, v := range rules {
			p[k] = v
		}
		props[name] = p
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
}

func typeSchema(t *testing.T, ft reflect.Type) map[string]any {
	t.Helper()
	switch {
	case ft == reflect.TypeFor[time.Time]():
		return map[string]any{"type": "string"}
	case ft.Kind() == reflect.String:
		return map[string]any{"type": "string"}
	case ft.Kind() == reflect.Bool:
		return map[string]any{"type": "boolean"}
	case ft.Kind() == reflect.Int:
		return map[string]any{"type": "integer"}
	case ft.Kind() == reflect.Slice:
		return map[string]any{"type": "array", "items": typeSchema(t, ft.Elem())}
	case ft.Kind() == reflect.Struct:
		return objectSchema(t, ft)
	}
	t.Fatalf("no JSON Schema for Go type %s", ft)
	return nil
}

func encodeSchema(t *testing.T, s map[string]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSchemasMatchStructs: schema/*.json are what the payload structs and
// their policies generate now (run `go generate` after changing a payload).
func TestSchemasMatchStructs(t *testing.T) {
	for _, w := range wireTypes {
		path := filepath.Join("schema", w.file)
		want := encodeSchema(t, schemaOf(t, w.typ, w.payload))
		if *update {
			if err := os.MkdirAll("schema", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go generate in tasks/)", err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s is out of date with %s (run go generate in tasks/); (-generated +file):\n%s", path, w.payload.Name(), diff)
		}
	}
}

// vector is one entry of testdata/taskid-vectors.json.
type vector struct {
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	TaskID  string          `json:"task_id"`
}

// TestTaskIDVectors: each vector's payload, decoded and validated as the
// worker would, has the vector's task id. The ids were computed when each
// vector was added; they are the contract, not an output of this code.
func TestTaskIDVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "taskid-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 10 {
		t.Fatalf("%d vectors, want at least 10", len(vs))
	}
	seen := map[string]bool{}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			if seen[v.Name] {
				t.Fatalf("vector name %q given twice", v.Name)
			}
			seen[v.Name] = true
			got, err := vectorTaskID(v)
			if err != nil {
				t.Fatal(err)
			}
			if got != v.TaskID {
				t.Errorf("task id = %s, want %s", got, v.TaskID)
			}
		})
	}
}

func vectorTaskID(v vector) (string, error) {
	dec := func(p interface{ Validate() error }) error {
		d := json.NewDecoder(bytes.NewReader(v.Payload))
		d.DisallowUnknownFields()
		if err := d.Decode(p); err != nil {
			return err
		}
		return p.Validate()
	}
	switch v.Type {
	case TypePhotoDelete:
		var p PhotoDeletePayload
		err := dec(&p)
		return p.TaskID(), err
	case TypeUserMerge:
		var p UserMergePayload
		err := dec(&p)
		return p.TaskID(), err
	case TypeUserErase:
		var p UserErasePayload
		err := dec(&p)
		return p.TaskID(), err
	case TypeAssetsSweep:
		var p AssetsSweepPayload
		err := dec(&p)
		return p.TaskID(), err
	}
	return "", fmt.Errorf("unknown type %q", v.Type)
}

// TestContractTableMatchesPolicies: the policy table of CONTRACT.md, which
// non-Go producers read, says what PolicyFor says.
func TestContractTableMatchesPolicies(t *testing.T) {
	doc, err := os.ReadFile("CONTRACT.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{TypePhotoDelete, TypeUserMerge, TypeUserErase, TypeAssetsSweep, TypeDeadLetterArchive} {
		p, _ := PolicyFor(typ)
		want := fmt.Sprintf("| `%s` | %d | %s | %s | %s doubling to %s |",
			p.Queue, p.MaxRetry, human(p.Timeout), human(p.Retention), human(p.Backoff.Base), human(p.Backoff.Cap))
		var row string
		for line := range strings.Lines(string(doc)) {
			if strings.HasPrefix(line, "| `"+typ+"` |") {
				row = line
				break // the policy table comes first, the id table after
			}
		}
		if !strings.Contains(row, want) {
			t.Errorf("CONTRACT.md's row of %s is %q, want it to contain %q", typ, strings.TrimSpace(row), want)
		}
	}
}

func human(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return fmt.Sprintf("%d s", d/time.Second)
}
