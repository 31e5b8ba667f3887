package erasure

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// Signed documents (receipts; anything else written as a JSON object) carry
// an Ed25519 signature that anyone holding the public key can check.
//
// The signed bytes are the document's canonical form: the document without
// its "signature" member, encoded as compact JSON the way Go's
// encoding/json encodes the decoded value - object members sorted by name
// (byte order) at every depth, no whitespace outside strings, numbers as
// written (integers, no exponent, as Go writes them), strings with only '"',
// '\' and control characters escaped (\b \f \n \r \t, else \u00xx; '<', '>'
// and '&' are not escaped; U+2028 and U+2029 are). Unless a string holds
// U+2028 or U+2029, that is also what Python's
// json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
// prints, so an auditor can check a receipt without our code (README).
//
// Verification is strict, so that a document that verifies has one meaning
// to every reader: it refuses documents over MaxSignedSize, a member given
// twice at any depth, data after the JSON object, members the content type
// does not have (unknown, or spelt with another case, which encoding/json
// would otherwise accept), and values written in a form the signer never
// writes (an empty list the signer leaves out, -0 for 0, a time in another
// zone) - each of those could read one way to us and another way to someone
// else under the same signature.

// SignatureMember is the top-level member that holds a document's signature.
const SignatureMember = "signature"

// MaxSignedSize bounds a signed document. A receipt of 50,000 steps (a
// user with 50,000 photos) is about 6 MiB; anything larger is refused
// before it is read into memory.
const MaxSignedSize = 8 << 20

// AlgEd25519 is the only signature algorithm written or accepted.
const AlgEd25519 = "Ed25519"

// Signature is the "signature" member of a signed document.
type Signature struct {
	Alg   string `json:"alg"`    // AlgEd25519
	KeyID string `json:"key_id"` // KeyID of the public key that checks it
	Value string `json:"value"`  // the 64-byte signature, standard base64
}

var (
	// ErrTampered: the signature does not match the content.
	ErrTampered = errors.New("receipt does not match its signature: altered, or signed with another key")
	// ErrMalformed: the document is not one the signer writes, whatever
	// its signature says.
	ErrMalformed = errors.New("not a well-formed receipt")
	// ErrTooLarge: the document is over MaxSignedSize.
	ErrTooLarge = fmt.Errorf("receipt is larger than %d MiB, far more than any receipt lifecycle writes: refused", MaxSignedSize>>20)
	// ErrUnknownKey: no public key given has the document's key id.
	ErrUnknownKey = errors.New("receipt is signed with a key not among the public keys given")
)

// KeyID names an Ed25519 public key: the first 8 bytes of the SHA-256 of
// its 32 raw bytes, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// PublicKeys are the keys a verifier trusts, by KeyID: one per signing key
// used over the years, so that rotating the key keeps old receipts valid.
type PublicKeys map[string]ed25519.PublicKey

// Add trusts pub.
func (k PublicKeys) Add(pub ed25519.PublicKey) { k[KeyID(pub)] = pub }

// ReadSigned reads a signed document from r, refusing one over
// MaxSignedSize after reading at most one byte more, or, when r is a file
// whose size says so, before reading anything.
func ReadSigned(r io.Reader) ([]byte, error) {
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxSignedSize {
			return nil, ErrTooLarge
		}
	}
	doc, err := io.ReadAll(io.LimitReader(r, MaxSignedSize+1))
	if err != nil {
		return nil, err
	}
	if len(doc) > MaxSignedSize {
		return nil, ErrTooLarge
	}
	return doc, nil
}

// SignDoc signs content, which must encode as a JSON object without a
// "signature" member, and returns the signed document: content indented in
// its own member order, for people, with the signature last. Whatever fields
// T has are covered. It checks that the document verifies before returning
// it, so that nothing is ever written that a verifier would refuse.
func SignDoc[T any](content T, key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("signing key is not an Ed25519 private key")
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	if _, taken := obj[SignatureMember]; taken {
		return nil, fmt.Errorf("content has a member named %q, which holds the signature", SignatureMember)
	}
	canon, err := canonical(obj, false)
	if err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	sig, err := json.MarshalIndent(Signature{Alg: AlgEd25519, KeyID: KeyID(pub), Value: base64.StdEncoding.EncodeToString(ed25519.Sign(key, canon))}, "  ", "  ")
	if err != nil {
		return nil, err
	}
	body, err := json.MarshalIndent(content, "", "  ")
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSuffix(bytes.TrimSuffix(body, []byte("}")), []byte("\n"))
	if len(body) > 1 { // more than "{"
		body = append(body, ',')
	}
	doc := fmt.Appendf(body, "\n  %q: %s\n}\n", SignatureMember, sig)
	if _, _, err := VerifyDoc[T](doc, PublicKeys{KeyID(pub): pub}); err != nil {
		return nil, fmt.Errorf("signed document does not verify: %w", err)
	}
	return doc, nil
}

// VerifyDoc checks doc's signature with the key of keys its key id names,
// and returns its content as T. It needs no secret.
func VerifyDoc[T any](doc []byte, keys PublicKeys) (T, Signature, error) {
	var zero T
	content, canon, sigRaw, err := parseStrict[T](doc, SignatureMember, false)
	if err != nil {
		return zero, Signature{}, err
	}
	if sigRaw == nil {
		return zero, Signature{}, fmt.Errorf("%w: no %q member", ErrMalformed, SignatureMember)
	}
	var sig Signature
	if err := decodeStrict(sigRaw, &sig); err != nil {
		return zero, Signature{}, fmt.Errorf("%w: member %q: %v", ErrMalformed, SignatureMember, err)
	}
	if sig.Alg != AlgEd25519 {
		return zero, sig, fmt.Errorf("%w: signature algorithm %q (want %q)", ErrMalformed, sig.Alg, AlgEd25519)
	}
	value, err := base64.StdEncoding.Strict().DecodeString(sig.Value)
	if err != nil || len(value) != ed25519.SignatureSize {
		return zero, sig, fmt.Errorf("%w: signature value is not %d bytes of standard base64", ErrMalformed, ed25519.SignatureSize)
	}
	pub, ok := keys[sig.KeyID]
	if !ok {
		ids := make([]string, 0, len(keys))
		for id := range keys {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return zero, sig, fmt.Errorf("%w: it names key id %q; the keys given are %s", ErrUnknownKey, sig.KeyID, strings.Join(ids, ", "))
	}
	if !ed25519.Verify(pub, canon, value) {
		return zero, sig, ErrTampered
	}
	return content, sig, nil
}

// parseStrict reads doc as a JSON object of type T with one member,
// sigMember, set aside (nil when absent). canon is the canonical form of the
// rest. escapeHTML selects the escaping of the canonical form: on for the
// legacy HMAC receipts, whose form was json.Marshal's.
func parseStrict[T any](doc []byte, sigMember string, escapeHTML bool) (content T, canon []byte, sig json.RawMessage, err error) {
	if len(doc) > MaxSignedSize {
		return content, nil, nil, ErrTooLarge
	}
	if name, ok := duplicateMember(doc); ok {
		return content, nil, nil, fmt.Errorf("%w: member %q given twice (readers differ on which copy counts)", ErrMalformed, name)
	}
	obj, err := decodeObject(doc)
	if err != nil {
		return content, nil, nil, err
	}
	if v, ok := obj[sigMember]; ok {
		if sig, err = json.Marshal(v); err != nil {
			return content, nil, nil, fmt.Errorf("%w: member %q: %v", ErrMalformed, sigMember, err)
		}
		delete(obj, sigMember)
	}
	if canon, err = canonical(obj, escapeHTML); err != nil {
		return content, nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := decodeStrict(canon, &content); err != nil {
		return content, nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// What T reads, written back: the document must say no more and
	// nothing else, member by member.
	back, err := json.Marshal(content)
	if err != nil {
		return content, nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	typed, err := decodeObject(back)
	if err != nil {
		return content, nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := writtenAsRead("", obj, typed); err != nil {
		return content, nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return content, canon, sig, nil
}

// decodeObject decodes one JSON object, numbers kept as written, and
// refuses anything after it but whitespace.
func decodeObject(doc []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	return obj, nil
}

// decodeStrict decodes doc into v, refusing members v does not have.
func decodeStrict(doc []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// canonical is the canonical form of obj (see the package comment above).
func canonical(obj map[string]any, escapeHTML bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// writtenAsRead reports the first place, by JSON path, where doc (the
// document as written) says something typed (what the content type read
// from it, written back) does not: a member it does not have, or a value in
// another form. A member typed has and doc lacks is no difference: the
// signer leaves empty optional members out.
func writtenAsRead(path string, doc, typed any) error {
	switch d := doc.(type) {
	case map[string]any:
		t, ok := typed.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: an object where a receipt has %s", where(path), kind(typed))
		}
		names := make([]string, 0, len(d))
		for name := range d {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			tv, ok := t[name]
			if !ok {
				return fmt.Errorf("%s.%s: no such member in a receipt as the signer writes it (unknown, spelt with another case, or empty)", path, name)
			}
			if err := writtenAsRead(path+"."+name, d[name], tv); err != nil {
				return err
			}
		}
		return nil
	case []any:
		t, ok := typed.([]any)
		if !ok || len(t) != len(d) {
			return fmt.Errorf("%s: a list of %d where a receipt reads %s", where(path), len(d), kind(typed))
		}
		for i := range d {
			if err := writtenAsRead(fmt.Sprintf("%s[%d]", path, i), d[i], t[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if doc != typed { // scalars: strings, json.Number (as written), bools, nil
		dj, _ := json.Marshal(doc)
		tj, _ := json.Marshal(typed)
		return fmt.Errorf("%s: written as %s, which reads as %s", where(path), dj, tj)
	}
	return nil
}

func where(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

func kind(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return fmt.Sprintf("a list of %d", len(v))
	case nil:
		return "null"
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}
