package safehttp

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// referenceInetAton is a second, deliberately plain reading of inet_aton's
// grammar, for parseInetAton to be compared with: split at the dots, read
// each part with strconv in the base its prefix names, then lay the parts
// out. It shares no code with parseInetAton.
func referenceInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		digits, base := p, 10
		switch {
		case strings.HasPrefix(p, "0x"), strings.HasPrefix(p, "0X"):
			digits, base = p[2:], 16
		case strings.HasPrefix(p, "0"):
			base = 8
		}
		if digits == "" {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(digits, base, 32) // no sign, no underscores, no prefix
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	last := len(vals) - 1
	var v uint64
	for i, p := range vals[:last] {
		if p > 255 {
			return netip.Addr{}, false
		}
		v += p << (8 * (3 - i))
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	v += vals[last]
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), true
}

// fullwidth writes the printable ASCII in s in its fullwidth forms
// (U+FF01 to U+FF5E), which IDNA maps back to ASCII.
func fullwidth(s string) string {
	return strings.Map(func(r rune) rune {
		if '!' <= r && r <= '~' {
			return r - '!' + '\uff01'
		}
		return r
	}, s)
}

// FuzzParseInetAton compares parseInetAton with referenceInetAton, and
// checks that what net/netip reads as IPv4 it reads the same, and that
// hostAddr reads a host written in fullwidth letters as it reads the host.
func FuzzParseInetAton(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "0x7f000001", "2130706433", "017700000001", "0177.0.0.1", "127.1", "0",
		"0x", "0x.1", "08", "0.0.0.0.0", "1..2", ".1", "1.", "4294967295", "4294967296",
		"0xffffffff", "0x100000000", "1.16777215", "1.16777216", "1.2.65535", "1.2.65536",
		"256.1", "0X7F.1", "00000000000000000000177.1", "0x000000000000000007f.1", "1.2.3.4 ",
		"+1.2.3.4", "1_0.0.0.1", "0x-1", "١٢٧.0.0.1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotOK := parseInetAton(s)
		want, wantOK := referenceInetAton(s)
		if got != want || gotOK != wantOK {
			t.Fatalf("parseInetAton(%q) = %v, %v; reference says %v, %v", s, got, gotOK, want, wantOK)
		}
		if addr, err := netip.ParseAddr(s); err == nil && addr.Is4() && (!gotOK || got != addr) {
			t.Fatalf("parseInetAton(%q) = %v, %v; net/netip reads %v", s, got, gotOK, addr)
		}
		if gotOK {
			if again, ok := parseInetAton(got.String()); !ok || again != got {
				t.Fatalf("parseInetAton(%q) = %v, which reads back as %v, %v", s, got, again, ok)
			}
		}
		if strings.ContainsAny(s, "[]") || !isASCII(s) {
			return
		}
		_, addr, isAddr := hostAddr(s)
		_, wide, wideIsAddr := hostAddr(fullwidth(s))
		if wide != addr || wideIsAddr != isAddr {
			t.Fatalf("hostAddr(%q) = %v, %v, but in fullwidth %v, %v", s, addr, isAddr, wide, wideIsAddr)
		}
	})
}

// FuzzInetAtonRoundTrip writes an address in every way inet_aton allows,
// one to four parts, each in decimal, octal or hexadecimal with any number
// of leading zeros, and checks that parseInetAton reads it back.
func FuzzInetAtonRoundTrip(f *testing.F) {
	f.Add(uint32(0x7f000001), uint8(0), uint16(0), uint8(0))
	f.Add(uint32(0x7f000001), uint8(3), uint16(0b01_10_11_00), uint8(3))
	f.Add(uint32(0xa9fea9fe), uint8(2), uint16(0xffff), uint8(0xff))
	f.Add(uint32(0), uint8(1), uint16(0b1010), uint8(17))
	f.Add(uint32(0xffffffff), uint8(3), uint16(0b11_11_11_11), uint8(0))
	f.Fuzz(func(t *testing.T, v uint32, layout uint8, bases uint16, zeros uint8) {
		n := 1 + int(layout%4)
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], v)
		parts := make([]uint64, n)
		for i := range n - 1 {
			parts[i] = uint64(b[i])
		}
		parts[n-1] = uint64(v) & (1<<(8*(5-n)) - 1)
		var s strings.Builder
		for i, p := range parts {
			if i > 0 {
				s.WriteByte('.')
			}
			pad := strings.Repeat("0", int(zeros>>(2*i))%4)
			switch bases >> (2 * i) & 3 {
			case 0:
				s.WriteString(strconv.FormatUint(p, 10))
			case 1:
				s.WriteString("0" + pad + strconv.FormatUint(p, 8))
			case 2:
				s.WriteString("0x" + pad + strconv.FormatUint(p, 16))
			case 3:
				s.WriteString("0X" + pad + strings.ToUpper(strconv.FormatUint(p, 16)))
			}
		}
		got, ok := parseInetAton(s.String())
		if want := netip.AddrFrom4(b); !ok || got != want {
			t.Fatalf("parseInetAton(%q) = %v, %v, want %v", s.String(), got, ok, want)
		}
	})
}
