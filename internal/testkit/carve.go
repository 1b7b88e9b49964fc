package testkit

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// carveChunk is the size of the pieces of a needle Carve looks for: a
// value split over two pages (an overflow chain, a page boundary) still
// has whole pieces in each, and 16 bytes of ciphertext match nothing by
// chance.
const carveChunk = 16

// Carve reads the files page by page, as someone holding a copy of the
// data directory would, and returns, by needle name, where a piece of
// each needle was found: "file@offset". Needles shorter than a chunk are
// looked for whole. A missing file is skipped: a database may have no
// write-ahead log.
func Carve(tb testing.TB, pageSize int, files []string, needles map[string][]byte) map[string]string {
	tb.Helper()
	found := make(map[string]string)
	for _, name := range files {
		data, err := os.ReadFile(name)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			tb.Fatalf("carve: %v", err)
		}
		for off := 0; off < len(data); off += pageSize {
			// A page and the chunk after it: a piece straddling the
			// boundary of two pages is found too.
			page := data[off:min(off+pageSize+carveChunk, len(data))]
			for what, needle := range needles {
				if _, ok := found[what]; ok {
					continue
				}
				for _, piece := range pieces(needle) {
					if i := bytes.Index(page, piece); i >= 0 {
						found[what] = fmt.Sprintf("%s@%d", name, off+i)
						break
					}
				}
			}
		}
	}
	return found
}

// pieces splits a needle into chunks, the last one ending with it.
func pieces(needle []byte) [][]byte {
	if len(needle) <= carveChunk {
		return [][]byte{needle}
	}
	var out [][]byte
	for i := 0; i+carveChunk <= len(needle); i += carveChunk {
		out = append(out, needle[i:i+carveChunk])
	}
	return append(out, needle[len(needle)-carveChunk:])
}
