package api

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// AllTenants is the tenant of an admin key: it reads every tenant.
const AllTenants = "*"

// Key is one configured API key, as the keys file describes it. The key
// itself is never stored: only its SHA-256.
type Key struct {
	// ID names the key in logs and sessions without revealing it: 12 hex
	// digits of an HMAC of the key's hash under the server's session
	// secret (so it tells nothing to whoever guesses keys), or, before a
	// server takes the ring, of the hash itself.
	ID string
	// Tenant is the tenant the key reads and writes, or AllTenants.
	Tenant string
	// Name is a free label (who holds the key).
	Name string
	// hash is the key's SHA-256: sessions are signed with a MAC key
	// derived from it and the session secret.
	hash [sha256.Size]byte
}

// Admin reports whether the key reads every tenant.
func (k Key) Admin() bool { return k.Tenant == AllTenants }

// KeyRing is the set of configured API keys, by hash.
type KeyRing struct {
	byHash map[[sha256.Size]byte]Key
	byID   map[string]Key
}

// HashKey returns the line-ready hash of an API key: "sha256:<hex>".
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(h[:])
}

// NewKey returns a new random API key.
func NewKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new key: %w", err)
	}
	return "eok_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// minKeyLength is the shortest key of another form than NewKey's that
// keys hash accepts: 32 characters, well over 128 bits if they are random.
const minKeyLength = 32

// CheckKeyStrength refuses a key that could be guessed: one NewKey makes
// (eok_ and 32 random bytes), or at least 32 characters of which at least
// 16 differ, are accepted.
func CheckKeyStrength(key string) error {
	if rest, ok := strings.CutPrefix(key, "eok_"); ok {
		if b, err := base64.RawURLEncoding.DecodeString(rest); err == nil && len(b) == 32 {
			return nil
		}
		return fmt.Errorf("key: an eok_ key holds 32 random bytes (eventops keys new makes one)")
	}
	distinct := map[rune]bool{}
	for _, r := range key {
		distinct[r] = true
	}
	if len(key) < minKeyLength || len(distinct) < 16 {
		return fmt.Errorf("key: too weak (%d characters, %d different): use eventops keys new, or at least %d random characters", len(key), len(distinct), minKeyLength)
	}
	return nil
}

// ParseKeys reads a keys file: one key a line,
//
//	sha256:<64 hex digits> <tenant or *> [name...]
//
// with blank lines and lines starting with # ignored. name labels errors.
func ParseKeys(r io.Reader, name string) (*KeyRing, error) {
	kr := &KeyRing{byHash: map[[sha256.Size]byte]Key{}, byID: map[string]Key{}}
	sc := bufio.NewScanner(r)
	var errs []error
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
		}
		f := strings.Fields(text)
		if len(f) < 2 {
			bad("want `sha256:<hex> <tenant or *> [name]`")
			continue
		}
		hexHash, ok := strings.CutPrefix(f[0], "sha256:")
		raw, err := hex.DecodeString(hexHash)
		if !ok || err != nil || len(raw) != sha256.Size {
			bad("%q is not sha256: and 64 hex digits (eventops keys hash KEY prints it)", f[0])
			continue
		}
		tenant := f[1]
		if tenant != AllTenants && !validTenant(tenant) {
			bad("tenant %q: letters, digits, '_', '.', '-', ':' (at most 128), or * for every tenant", tenant)
			continue
		}
		var h [sha256.Size]byte
		copy(h[:], raw)
		k := Key{ID: strings.ToLower(hexHash[:12]), Tenant: tenant, Name: strings.Join(f[2:], " "), hash: h}
		if _, dup := kr.byHash[h]; dup {
			bad("the key is listed twice")
			continue
		}
		if _, dup := kr.byID[k.ID]; dup {
			bad("two keys share the id %s", k.ID)
			continue
		}
		kr.byHash[h], kr.byID[k.ID] = k, k
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(kr.byHash) == 0 {
		return nil, fmt.Errorf("%s: no keys", name)
	}
	return kr, nil
}

// withIDs is a copy of kr whose keys' IDs are HMAC-SHA256(secret, hash).
func (kr *KeyRing) withIDs(secret []byte) *KeyRing {
	if kr == nil {
		return nil
	}
	out := &KeyRing{byHash: make(map[[sha256.Size]byte]Key, len(kr.byHash)), byID: make(map[string]Key, len(kr.byHash))}
	for h, k := range kr.byHash {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte("eventops key id\x00"))
		mac.Write(h[:])
		k.ID = hex.EncodeToString(mac.Sum(nil))[:12]
		out.byHash[h], out.byID[k.ID] = k, k
	}
	return out
}

// LoadKeys reads a keys file.
func LoadKeys(path string) (*KeyRing, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	return ParseKeys(f, path)
}

// Lookup finds the key a client presented.
func (kr *KeyRing) Lookup(key string) (Key, bool) {
	k, ok := kr.byHash[sha256.Sum256([]byte(key))]
	return k, ok
}

// byKeyID finds a key by its ID.
func (kr *KeyRing) byKeyID(id string) (Key, bool) {
	k, ok := kr.byID[id]
	return k, ok
}

// Len is the number of keys.
func (kr *KeyRing) Len() int { return len(kr.byHash) }

// Tenants lists the tenants that have keys ("*" for admin keys).
func (kr *KeyRing) Tenants() []string {
	set := map[string]bool{}
	for _, k := range kr.byHash {
		set[k.Tenant] = true
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// validTenant is what normalize accepts as a tenant name.
func validTenant(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' || r == ':') {
			return false
		}
	}
	return true
}
