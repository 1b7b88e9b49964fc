package seal

import (
	"crypto/subtle"
	"fmt"
)

// NewKey returns KeySize random bytes: a key kept sealed under another
// rather than wrapped by the master key, such as a data subject's (see
// KeyFromBytes).
func NewKey() []byte { return randomBytes(KeySize) }

// KeyFromBytes returns the data key named id whose bytes are key (KeySize
// of them), keeping a copy. A value it seals names id, so the reader knows
// which key to rebuild.
func KeyFromBytes(id string, key []byte) (*DataKey, error) {
	return newDataKey(id, append([]byte(nil), key...))
}

// SplitKey returns n+1 shares of key: n random, and a last one that makes
// their XOR the key. Any n of them say nothing about the key; all of them
// rebuild it (JoinKey). A key split among the data subjects a payload
// names, one share each and one for the tenant, can no longer be rebuilt
// once any of those subjects' keys is destroyed.
func SplitKey(key []byte, n int) [][]byte {
	shares := make([][]byte, n+1)
	last := append([]byte(nil), key...)
	for i := range n {
		shares[i] = randomBytes(len(key))
		subtle.XORBytes(last, last, shares[i])
	}
	shares[n] = last
	return shares
}

// JoinKey returns the XOR of shares: the key SplitKey split, when they are
// all of its shares. Shares of different lengths are ErrIntegrity.
func JoinKey(shares [][]byte) ([]byte, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: no key shares", ErrIntegrity)
	}
	key := append([]byte(nil), shares[0]...)
	for _, s := range shares[1:] {
		if len(s) != len(key) {
			return nil, fmt.Errorf("%w: key shares of different lengths", ErrIntegrity)
		}
		subtle.XORBytes(key, key, s)
	}
	return key, nil
}
