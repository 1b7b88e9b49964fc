package seal

import "fmt"

// A tenant's subject key (DataKey.SubjectKey) keys the hashes of its
// subjects and dedup keys, which are stored and looked up for as long as
// the metadata lives: it must outlive the data key it was derived from.
// So every data key but a tenant's first is stored with the tenant's
// subject key beside it, wrapped by the master key and bound to that data
// key's id, and the first data key can be deleted once it seals nothing.

// subjectWrapLabel starts the additional data of a wrapped subject key, so
// that it never unwraps as a data key, nor a data key as a subject key.
const subjectWrapLabel = "sluice subject key\x00"

// WrapSubjectKey wraps a tenant's subject key (KeySize bytes) for storing
// beside the data key dataKeyID (AES-256-GCM, random nonce, bound to the
// id). It panics on a key of another size, which is a programming error.
func (m *Master) WrapSubjectKey(dataKeyID string, subjectKey []byte) []byte {
	if len(subjectKey) != KeySize {
		panic(fmt.Sprintf("seal: subject key must be %d bytes, got %d", KeySize, len(subjectKey)))
	}
	return m.wrap(subjectKey, []byte(subjectWrapLabel+dataKeyID))
}

// UnwrapSubjectKey opens a subject key that WrapSubjectKey wrapped for
// dataKeyID: ErrWrongMaster when it does not authenticate (another master
// key, another data key id, tampered), an error matching ErrIntegrity when
// it is malformed.
func (m *Master) UnwrapSubjectKey(dataKeyID string, wrapped []byte) ([]byte, error) {
	if len(wrapped) != wrappedSize || wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("%w: wrapped subject key of data key %q is malformed (%d bytes)", ErrIntegrity, dataKeyID, len(wrapped))
	}
	key, err := m.unwrap(wrapped, []byte(subjectWrapLabel+dataKeyID))
	if err != nil {
		return nil, fmt.Errorf("%w (subject key of data key %q, master key %s)", ErrWrongMaster, dataKeyID, m.fingerprint)
	}
	return key, nil
}
