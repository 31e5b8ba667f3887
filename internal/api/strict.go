package api

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// maxDepth bounds how deeply a body may nest: a filing is two levels deep.
const maxDepth = 8

// decodeStrict reads exactly one JSON object from body into v, a pointer to
// a struct, refusing what encoding/json lets through: a member that v does
// not have, matched case-sensitively (encoding/json would take "REQUEST_ID"
// for "request_id"), a member given twice (encoding/json keeps the last),
// anything after the object, and nesting past maxDepth. Every refusal is a
// *tasks.ValidationError naming the member ("body" for the body as a whole),
// so that the answer names the field whatever went wrong.
func decodeStrict(body []byte, v any) error {
	if !json.Valid(body) {
		// Before the walk: its token errors would name a half-read member.
		var err error
		dec := json.NewDecoder(bytes.NewReader(body))
		for err == nil {
			_, err = dec.Token()
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("unexpected end of JSON input")
		}
		return problem("body", "not valid JSON: "+err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	first, err := dec.Token()
	if err != nil {
		return problem("body", "not valid JSON: "+err.Error())
	}
	if first != json.Delim('{') {
		return problem("body", "must be a JSON object")
	}
	if err := walkObject(dec, reflect.TypeOf(v).Elem(), "", 1); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return problem("body", "data after the JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "body"
			}
			return problem(field, fmt.Sprintf("want a JSON %s, got %s", jsonKind(te.Type), te.Value))
		}
		return problem("body", err.Error())
	}
	return nil
}

func problem(field, p string) error { return &tasks.ValidationError{Field: field, Problem: p} }

// walkObject reads the members of an object whose '{' was read, checking
// each against t (nil: any member is fine).
func walkObject(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	if depth > maxDepth {
		return problem(cmp.Or(path, "body"), fmt.Sprintf("nested deeper than %d levels", maxDepth))
	}
	fields := fieldsOf(t)
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return problem(cmp.Or(path, "body"), err.Error())
		}
		name, _ := tok.(string)
		member := name
		if path != "" {
			member = path + "." + name
		}
		if seen[name] {
			return problem(member, "given twice")
		}
		seen[name] = true
		var ft reflect.Type
		if fields != nil {
			var ok bool
			if ft, ok = fields[name]; !ok {
				return problem(member, "unknown member (names are case-sensitive)")
			}
		}
		if err := walkValue(dec, ft, member, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

func walkValue(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return problem(path, err.Error())
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch tok {
	case json.Delim('{'):
		return walkObject(dec, t, path, depth+1)
	case json.Delim('['):
		if depth+1 > maxDepth {
			return problem(path, fmt.Sprintf("nested deeper than %d levels", maxDepth))
		}
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walkValue(dec, elem, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return nil
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// fieldsOf maps the JSON member names of struct type t to their types,
// embedded structs flattened; nil for any other type, or one that decodes
// itself, whose members are not checked.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range fieldsOf(f.Type) {
				out[k] = v
			}
			continue
		}
		out[cmp.Or(name, f.Name)] = f.Type
	}
	return out
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	if t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64 {
		return "number in range"
	}
	return t.String()
}
