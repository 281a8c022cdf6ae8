package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type state struct {
	Epoch   int
	Tensors []Tensor
	RNG     map[string][]byte
}

func sample() state {
	return state{
		Epoch: 3,
		Tensors: []Tensor{
			NewTensor("w", []int{2, 2}, []float32{1, 2, 3, 4.5}),
			NewTensor("b", []int{2}, []float64{-1e-300, 7}),
		},
		RNG: map[string][]byte{"shuffle": {1, 2, 3}},
	}
}

func TestRoundTripExact(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.ckpt")
	in := sample()
	if err := Save(p, in); err != nil {
		t.Fatal(err)
	}
	var out state
	if err := Load(p, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v != %+v", out, in)
	}
}

// withLength returns raw with its header's payload length replaced by n.
func withLength(raw []byte, n uint64) []byte {
	out := append([]byte(nil), raw...)
	binary.LittleEndian.PutUint64(out[12:20], n)
	return out
}

// wrap makes a checkpoint file of payload: header, payload, correct checksum.
func wrap(payload []byte) []byte {
	out := make([]byte, headerSize, headerSize+len(payload)+trailerSize)
	copy(out, magic[:])
	binary.LittleEndian.PutUint32(out[8:12], Version)
	binary.LittleEndian.PutUint64(out[12:20], uint64(len(payload)))
	out = append(out, payload...)
	return binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(payload))
}

// hugeMap is a gob stream of mapState whose map announces 2^34 elements but holds one: a
// decoder that allocates what the count says needs hundreds of gigabytes. (Go ignores map
// size hints beyond what it could ever allocate; counts from about 2^26 to 2^39 are the
// dangerous ones.)
func hugeMap(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(&mapState{A: 1, M: map[uint64]float64{1: 2}}); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	// the value message, the last 10 bytes: length 9, the type id (2 bytes, ff xx), field 1 =
	// int 1 (01 02), field 2 = a map of 1 element (01 01), key 1 (01), value 2.0 (40), end of
	// the struct (00)
	i := len(raw) - 10
	if i < 0 || raw[i] != 0x09 || !bytes.Equal(raw[i+3:], []byte{0x01, 0x02, 0x01, 0x01, 0x01, 0x40, 0x00}) {
		t.Fatalf("unexpected gob encoding % x", raw)
	}
	huge := append([]byte{0x0e, raw[i+1], raw[i+2], 0x01, 0x02, 0x01},
		0xfb, 4, 0, 0, 0, 0, // the count 2^34 (uint: -5, then 5 bytes big-endian)
		0x01, 0x40, 0x00)
	return append(append([]byte(nil), raw[:i]...), huge...)
}

type mapState struct {
	A int
	M map[uint64]float64
}

func TestLoadRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.ckpt")
	if err := Save(p, sample()); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	n := uint64(len(raw) - headerSize - trailerSize)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", raw[:len(raw)-10], "truncated checkpoint: the header announces"},
		{"flipped", append(append([]byte{}, raw[:30]...), append([]byte{raw[30] ^ 0xff}, raw[31:]...)...), "fails its checksum"},
		{"not-ckpt", []byte("hello world, this is not a checkpoint"), "not a dmrnet checkpoint"},
		{"short-not-ckpt", []byte("hi"), "not a dmrnet checkpoint"},
		{"empty", []byte{}, "truncated checkpoint: 0 bytes"},
		{"magic-only", raw[:8], "truncated checkpoint: 8 bytes"},
		{"magic-prefix", raw[:5], "truncated checkpoint: 5 bytes"},
		{"header-only", raw[:20], "truncated checkpoint"},
		{"version", append(append(append([]byte{}, raw[:8]...), 9, 0, 0, 0), raw[12:]...), "format version 9"},
		{"length 2^64-1", withLength(raw, math.MaxUint64), "announces 18446744073709551615 payload bytes"},
		{"length 2^64-4", withLength(raw, math.MaxUint64-3), "truncated checkpoint"},
		{"length 2^63", withLength(raw, 1<<63), "truncated checkpoint"},
		{"length +1", withLength(raw, n+1), "truncated checkpoint"},
		{"length -1", withLength(raw, n-1), "1 bytes follow the payload's checksum"},
		{"trailing bytes", append(append([]byte{}, raw...), 0), "1 bytes follow"},
		{"payload not gob", wrap([]byte("not gob at all")), "corrupt checkpoint"},
		{"empty payload", wrap(nil), "corrupt checkpoint: EOF"},
		{"huge map count", wrap(hugeMap(t)), "corrupt checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(q, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			var out state
			err := Load(q, &out)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, q+": ") || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") || !strings.HasSuffix(msg, ")") {
				t.Fatalf("error %q: want one line starting with the file, containing %q, ending with a hint", msg, tt.want)
			}
		})
	}
	var out state
	if err := Load(filepath.Join(dir, "missing"), &out); err == nil || errors.Is(err, ErrCorrupt) {
		t.Errorf("missing file: err = %v", err)
	}
}

// TestHugeMapPremise checks the test's own premise: the huge-map stream differs from a
// valid one only in the count, so it is the count that Load rejects.
func TestHugeMapPremise(t *testing.T) {
	raw := hugeMap(t)
	fixed := bytes.Replace(raw, []byte{0xfb, 4, 0, 0, 0, 0}, []byte{0x01}, 1)
	fixed[len(fixed)-10] = 0x09
	var m mapState
	if err := decode("x", wrap(fixed), &m); err != nil || m.M[1] != 2 {
		t.Fatalf("repaired stream: %v %+v", err, m)
	}
}

func TestCopyToChecksShape(t *testing.T) {
	tn := NewTensor("enc.rgb.0.W", []int{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	dst := make([]float32, 6)
	if err := tn.CopyTo(dst, []int{3, 2}); err != nil || dst[5] != 6 {
		t.Fatalf("CopyTo: %v %v", err, dst)
	}
	err := tn.CopyTo(make([]float32, 8), []int{4, 2})
	if err == nil || !strings.Contains(err.Error(), "enc.rgb.0.W") || !strings.Contains(err.Error(), "[4 2]") {
		t.Fatalf("shape mismatch error %v", err)
	}
	if err := tn.CopyTo(make([]float64, 6), []int{3, 2}); err == nil {
		t.Fatal("dtype mismatch accepted")
	}
}

func TestMayHoldMap(t *testing.T) {
	type rec struct {
		Next *rec
		V    []float32
	}
	type withMap struct{ In []struct{ M map[string]int } }
	tests := []struct {
		v    any
		want bool
	}{
		{&state{}, true},
		{&mapState{}, true},
		{&[]Tensor{}, false},
		{&rec{}, false},
		{&withMap{}, true},
		{new(any), true},
		{nil, true},
	}
	for _, tt := range tests {
		if got := mayHoldMap(reflect.TypeOf(tt.v)); got != tt.want {
			t.Errorf("mayHoldMap(%T) = %v, want %v", tt.v, got, tt.want)
		}
	}
}
