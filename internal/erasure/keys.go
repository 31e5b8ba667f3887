package erasure

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Keys are written as OpenSSL writes them, so that `openssl genpkey
// -algorithm ed25519` makes a signing key and `openssl pkey -pubin` reads a
// published public key: PKCS #8 in a "PRIVATE KEY" PEM block, and
// SubjectPublicKeyInfo in a "PUBLIC KEY" block.

// ParsePrivateKey reads an Ed25519 signing key: a PEM "PRIVATE KEY" block
// (PKCS #8), or its base64 body on one line, for an environment variable.
func ParsePrivateKey(text string) (ed25519.PrivateKey, error) {
	der, err := pemOrBase64(text, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not a PKCS #8 private key (openssl genpkey -algorithm ed25519 makes one)")
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key (openssl genpkey -algorithm ed25519 makes one)", k)
	}
	return ed, nil
}

// MarshalPrivateKey writes key as ParsePrivateKey reads it (PEM).
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePublicKey reads an Ed25519 public key as MarshalPublicKey writes it:
// a PEM "PUBLIC KEY" block, lines before it ignored.
func ParsePublicKey(text []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(text)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New(`no PEM "PUBLIC KEY" block (lifecycle receipt public-key prints one)`)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a public key: %v", err)
	}
	ed, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return ed, nil
}

// MarshalPublicKey writes pub for publishing: a comment line naming its key
// id, then the PEM "PUBLIC KEY" block (PEM readers, OpenSSL's included,
// skip text before the block).
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# lifecycle erasure receipts, Ed25519, key id %s\n", KeyID(pub))
	return append([]byte(head), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...), nil
}

func pemOrBase64(text, typ string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "-----BEGIN") {
		b, rest := pem.Decode([]byte(text))
		if b == nil || b.Type != typ || len(strings.TrimSpace(string(rest))) > 0 {
			return nil, fmt.Errorf("want one PEM %q block", typ)
		}
		return b.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("want a PEM %q block, or its base64 body on one line", typ)
	}
	return der, nil
}
