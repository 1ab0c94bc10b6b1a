package runs

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxNameLength keeps derived names valid as label values (a Job's name becomes its
// pods' job-name label), which are capped at 63 characters.
const MaxNameLength = 63

// HashLength is the hex digits of sha256 a name carries when it cannot be readable:
// 64 bits, so that neither chance nor a tenant choosing names makes two keys meet.
const HashLength = 16

// BoundedName is readable when that reads back as key alone (exact) and fits in a label
// value; otherwise it is the start of readable and "-" and a hash of key. Names are
// deterministic, so a restarted reconcile or a retried request finds the same object.
//
// Callers keep the two forms apart: a hashed name ends in HashLength hex digits after
// its last "-", which no readable name of the same kind does.
func BoundedName(readable string, exact bool, key string) string {
	if exact && len(readable) <= MaxNameLength {
		return readable
	}
	suffix := Hash(key)
	prefix := strings.TrimRight(readable[:min(len(readable), MaxNameLength-len(suffix)-1)], "-.")
	return prefix + "-" + suffix
}

// JoinName joins parts with "-" for callers whose parts cannot run into one another
// (fixed words, enum values, hashes, digits, or one name): the join then reads back as
// the parts, and only its length can call for a hash.
func JoinName(parts ...string) string {
	name := strings.Join(parts, "-")
	return BoundedName(name, true, name)
}

// LabelValue is an object's name as a label value: itself when it fits, else cut to fit
// and a hash of it (a name may have 253 characters, a label value 63). An object name is
// a DNS subdomain, which up to 63 characters is a label value as it is.
func LabelValue(name string) string {
	return JoinName(name)
}

// Hash is the HashLength hex digits of the sha256 of key that hashed names end in.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:HashLength]
}
