package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

// A subject key wrapped for a data key unwraps for that id under that
// master key only; a wrapped data key is not a wrapped subject key, nor
// the other way round.
func TestWrapSubjectKey(t *testing.T) {
	t.Parallel()
	master, other := testkit.NewMaster(t), testkit.NewMaster(t)
	dk := seal.NewDataKey()
	sk := dk.SubjectKey()
	wrapped := master.WrapSubjectKey("dk_next", sk)
	got, err := master.UnwrapSubjectKey("dk_next", wrapped)
	if err != nil || !bytes.Equal(got, sk) {
		t.Fatalf("UnwrapSubjectKey = %x, %v; want the key", got, err)
	}
	if _, err := master.UnwrapSubjectKey("dk_other", wrapped); !errors.Is(err, seal.ErrWrongMaster) {
		t.Errorf("under another id: %v, want ErrWrongMaster", err)
	}
	if _, err := other.UnwrapSubjectKey("dk_next", wrapped); !errors.Is(err, seal.ErrWrongMaster) {
		t.Errorf("under another master key: %v, want ErrWrongMaster", err)
	}
	if _, err := master.UnwrapSubjectKey("dk_next", wrapped[:10]); !errors.Is(err, seal.ErrIntegrity) {
		t.Errorf("truncated: %v, want ErrIntegrity", err)
	}
	if _, err := master.UnwrapSubjectKey(dk.ID(), master.Wrap(dk)); !errors.Is(err, seal.ErrWrongMaster) {
		t.Errorf("a wrapped data key unwrapped as a subject key: %v", err)
	}
	if _, err := master.Unwrap("dk_next", wrapped); !errors.Is(err, seal.ErrWrongMaster) {
		t.Errorf("a wrapped subject key unwrapped as a data key: %v", err)
	}
}

// SealedPrefix is how every value sealed under the key starts.
func TestSealedPrefix(t *testing.T) {
	t.Parallel()
	dk := seal.NewDataKey()
	if v := dk.Seal([]byte("x"), nil); !bytes.HasPrefix(v, seal.SealedPrefix(dk.ID())) {
		t.Fatalf("%x does not start with SealedPrefix %x", v, seal.SealedPrefix(dk.ID()))
	}
	if bytes.HasPrefix(seal.NewDataKey().Seal(nil, nil), seal.SealedPrefix(dk.ID())) {
		t.Fatal("a value sealed under another key starts with the prefix")
	}
}
