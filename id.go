package sluice

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"time"
)

// ID prefixes, one per resource kind.
const (
	PrefixTenant      = "ten_"
	PrefixKey         = "key_"
	PrefixSource      = "src_"
	PrefixDestination = "dst_"
	PrefixEvent       = "evt_"
	PrefixDelivery    = "dlv_"
	PrefixAttempt     = "att_"
	PrefixErasure     = "era_"
	PrefixAudit       = "aud_"
	PrefixPortal      = "pts_"
)

// crockford is the ULID alphabet: sortable as text, no ambiguous letters.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var idGen struct {
	sync.Mutex
	lastMS uint64
	hi     uint16 // the 80-bit random part as hi(16) + lo(64), so it can be incremented
	lo     uint64
}

// NewID returns prefix followed by a 26-character ULID: 48 bits of Unix
// milliseconds and 80 random bits. IDs made in the same millisecond by this
// process increase monotonically, so ordering by ID is ordering by creation.
func NewID(prefix string) string {
	ms := uint64(time.Now().UnixMilli())
	idGen.Lock()
	if ms <= idGen.lastMS {
		ms = idGen.lastMS
		idGen.lo++
		if idGen.lo == 0 {
			idGen.hi++
		}
	} else {
		var b [10]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
		idGen.lastMS = ms
		idGen.hi = binary.BigEndian.Uint16(b[:2])
		idGen.lo = binary.BigEndian.Uint64(b[2:])
	}
	var raw [16]byte
	binary.BigEndian.PutUint16(raw[0:], uint16(ms>>32))
	binary.BigEndian.PutUint32(raw[2:], uint32(ms))
	binary.BigEndian.PutUint16(raw[6:], idGen.hi)
	binary.BigEndian.PutUint64(raw[8:], idGen.lo)
	idGen.Unlock()

	out := make([]byte, len(prefix)+26)
	copy(out, prefix)
	encodeULID(out[len(prefix):], raw)
	return string(out)
}

// encodeULID writes the 128-bit value as 26 Crockford base32 characters, the
// first carrying the top 3 bits.
func encodeULID(dst []byte, raw [16]byte) {
	hi := binary.BigEndian.Uint64(raw[:8])
	lo := binary.BigEndian.Uint64(raw[8:])
	for i := 25; i >= 0; i-- {
		dst[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
}

// idPrefixes are the prefixes NewID is given.
var idPrefixes = []string{PrefixTenant, PrefixKey, PrefixSource, PrefixDestination, PrefixEvent, PrefixDelivery,
	PrefixAttempt, PrefixErasure, PrefixAudit, PrefixPortal}

// ValidID reports whether s has the shape of an id NewID makes: a known
// prefix and 26 characters of the ULID alphabet.
func ValidID(s string) bool {
	if len(s) != 4+26 || !slices.Contains(idPrefixes, s[:4]) {
		return false
	}
	for i := 4; i < len(s); i++ {
		if strings.IndexByte(crockford, s[i]) < 0 {
			return false
		}
	}
	return true
}
