package idx

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// makeIDX writes an IDX header for the given type and dims followed by the raw element bytes.
func makeIDX(typ byte, dims []uint32, elems []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, elems...)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func be16(vs ...int16) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint16(b, uint16(v))
	}
	return b
}

func be32(vs ...int32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	return b
}

func bef32(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func bef64(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		dims  []int
		typ   byte
		want  []float64
	}{
		{"ubyte 1-D", makeIDX(Uint8, []uint32{4}, []byte{0, 1, 128, 255}), []int{4}, Uint8, []float64{0, 1, 128, 255}},
		{"ubyte 3-D", makeIDX(Uint8, []uint32{2, 1, 2}, []byte{9, 8, 7, 6}), []int{2, 1, 2}, Uint8, []float64{9, 8, 7, 6}},
		{"sbyte", makeIDX(Int8, []uint32{3}, []byte{0x80, 0xff, 0x7f}), []int{3}, Int8, []float64{-128, -1, 127}},
		{"int16", makeIDX(Int16, []uint32{3}, be16(-32768, 258, 32767)), []int{3}, Int16, []float64{-32768, 258, 32767}},
		{"int32 2-D", makeIDX(Int32, []uint32{2, 2}, be32(-2147483648, 16909060, 0, 2147483647)), []int{2, 2}, Int32, []float64{-2147483648, 16909060, 0, 2147483647}},
		{"float32", makeIDX(Float32, []uint32{2}, bef32(1.5, -0.25)), []int{2}, Float32, []float64{1.5, -0.25}},
		{"float64", makeIDX(Float64, []uint32{2}, bef64(math.Pi, -1e300)), []int{2}, Float64, []float64{math.Pi, -1e300}},
		{"empty", makeIDX(Float64, []uint32{0, 5}, nil), []int{0, 5}, Float64, []float64{}},
		{"zero dim after huge dims", makeIDX(Int32, []uint32{0xffffffff, 0xffffffff, 0}, nil), []int{0xffffffff, 0xffffffff, 0}, Int32, []float64{}},
		{"gzip ubyte", gz(makeIDX(Uint8, []uint32{2}, []byte{3, 4})), []int{2}, Uint8, []float64{3, 4}},
		{"gzip int16", gz(makeIDX(Int16, []uint32{1, 2}, be16(-2, 300))), []int{1, 2}, Int16, []float64{-2, 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Decode(bytes.NewReader(tt.input), "x.idx")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.Dims, tt.dims) || a.Type != tt.typ {
				t.Fatalf("got dims %v type 0x%02X, want %v 0x%02X", a.Dims, a.Type, tt.dims, tt.typ)
			}
			if a.Len() != len(tt.want) {
				t.Fatalf("Len() = %d, want %d", a.Len(), len(tt.want))
			}
			if tt.typ == Uint8 {
				if a.Data != nil || len(a.U8) != len(tt.want) {
					t.Errorf("ubyte array: len(Data) = %d, len(U8) = %d; want 0 and %d", len(a.Data), len(a.U8), len(tt.want))
				}
			} else if a.U8 != nil {
				t.Errorf("U8 set for type %s", TypeName(a.Type))
			}
			f := a.Float64()
			for i, w := range tt.want {
				if a.At(i) != w || f[i] != w {
					t.Errorf("element %d: At = %v, Float64 = %v, want %v", i, a.At(i), f[i], w)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  []string
	}{
		{"empty", nil, []string{"not an IDX file", "only 0 bytes"}},
		{"short", []byte{0, 0, 8}, []string{"not an IDX file", "only 3 bytes"}},
		{"bad magic", []byte{1, 0, 8, 1, 0, 0, 0, 0}, []string{"bad magic number 01 00 08 01 at byte offset 0", "first two bytes must be 0"}},
		{"bad magic second byte", []byte{0, 7, 8, 1, 0, 0, 0, 0}, []string{"bad magic number 00 07 08 01"}},
		{"unknown type", makeIDX(0x0A, []uint32{1}, []byte{0}), []string{"unknown IDX element type 0x0A at byte offset 2"}},
		{"zero dims", []byte{0, 0, 8, 0}, []string{"zero dimensions", "byte offset 3"}},
		{"truncated header", []byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0}, []string{"truncated header", "3 dimensions need 12 bytes", "only 6 are present"}},
		{"truncated data", makeIDX(Int16, []uint32{2, 3}, be16(1, 2, 3, 4, 5)), []string{"truncated data", "dimensions [2 3] of int16 need 12 bytes after byte offset 12, only 10 are present"}},
		{"huge declared size", makeIDX(Uint8, []uint32{0xffffffff}, []byte{1, 2}), []string{"truncated data", "need 4294967295 bytes", "only 2 are present"}},
		{"trailing garbage", makeIDX(Uint8, []uint32{2}, []byte{1, 2, 3, 4, 5}), []string{"3 bytes of trailing garbage at byte offset 10"}},
		{"overflow", makeIDX(Float64, []uint32{0xffffffff, 0xffffffff, 2}, nil), []string{"dimensions [4294967295 4294967295 2] at byte offset 4 overflow"}},
		{"overflow wrapping to zero", makeIDX(Uint8, []uint32{0x10000, 0x10000, 0x10000, 0x10000}, nil), []string{"overflow"}},
		{"gzip truncated data", gz(makeIDX(Int32, []uint32{2}, be32(1))), []string{"truncated data", "only 4 are present", "of the decompressed stream"}},
		{"gzip bad magic", gz([]byte{3, 3, 8, 1}), []string{"bad magic number", "of the decompressed stream"}},
		{"gzip cut", gz(makeIDX(Uint8, []uint32{3}, []byte{1, 2, 3}))[:20], []string{"truncated gzip stream"}},
		{"gzip bad header", []byte{0x1f, 0x8b, 0, 0}, []string{"bad gzip header"}},
		{"gzip bad checksum", func() []byte {
			b := gz(makeIDX(Uint8, []uint32{3}, []byte{1, 2, 3}))
			b[len(b)-6] ^= 0xff
			return b
		}(), []string{"corrupt gzip stream", "checksum"}},
		{"gzip trailing garbage", append(gz(makeIDX(Uint8, []uint32{1}, []byte{1})), "junk"...), []string{"4 bytes of trailing garbage after the end of the gzip stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Decode(bytes.NewReader(tt.input), "data/x.idx")
			if err == nil {
				t.Fatalf("no error; decoded %+v", a)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "data/x.idx: ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line starting with the file name", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestTypeName(t *testing.T) {
	for typ, want := range map[byte]string{Uint8: "ubyte", Int8: "sbyte", Int16: "int16", Int32: "int32", Float32: "float32", Float64: "float64", 0x42: "unknown type 0x42"} {
		if got := TypeName(typ); got != want {
			t.Errorf("TypeName(0x%02X) = %q, want %q", typ, got, want)
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file string
		data []byte
	}{
		{"a.idx", makeIDX(Int16, []uint32{1}, be16(-7))},
		{"a.idx.gz", gz(makeIDX(Int16, []uint32{1}, be16(-7)))},
	} {
		p := filepath.Join(dir, tc.file)
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := ReadFile(p)
		if err != nil || a.At(0) != -7 {
			t.Fatalf("%s: got %+v, %v", tc.file, a, err)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func dataRoot() string {
	if d := os.Getenv("DMRNET_DATA_ROOT"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "data")
}

func TestMNIST(t *testing.T) {
	dir := filepath.Join(dataRoot(), "mnist")
	labels := filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")
	if _, err := os.Stat(labels); err != nil {
		t.Skipf("real data absent (%v); set DMRNET_DATA_ROOT to the folder holding mnist/ to run this test", err)
	}
	l, err := ReadFile(labels)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Dims, []int{10000}) || l.Type != Uint8 {
		t.Fatalf("labels: dims %v type %s, want [10000] ubyte", l.Dims, TypeName(l.Type))
	}
	var count [10]int
	for _, v := range l.U8 {
		if v > 9 {
			t.Fatalf("label %d out of 0..9", v)
		}
		count[v]++
	}
	// The MNIST test set has 980 zeros and 1135 ones.
	if count[0] != 980 || count[1] != 1135 {
		t.Errorf("label counts %v; want 980 zeros and 1135 ones", count)
	}
	im, err := ReadFile(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(im.Dims, []int{10000, 28, 28}) || len(im.U8) != 10000*28*28 || im.Data != nil {
		t.Fatalf("images: dims %v, %d bytes", im.Dims, len(im.U8))
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(makeIDX(Uint8, []uint32{2, 2}, []byte{1, 2, 3, 4}))
	f.Add(makeIDX(Float32, []uint32{1}, bef32(1)))
	f.Add(gz(makeIDX(Int16, []uint32{2}, be16(1, 2))))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(bytes.NewReader(b), "fuzz.idx")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.idx: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		n := 1
		for _, d := range a.Dims {
			n *= d
		}
		if len(a.Dims) == 0 || a.Len() != n || elemSize(a.Type) == 0 {
			t.Fatalf("inconsistent array: dims %v type 0x%02X len %d", a.Dims, a.Type, a.Len())
		}
		if a.Type == Uint8 && (a.Data != nil || len(a.U8) != n) || a.Type != Uint8 && (a.U8 != nil || len(a.Data) != n) {
			t.Fatalf("type 0x%02X with len(U8) %d len(Data) %d", a.Type, len(a.U8), len(a.Data))
		}
	})
}

type failReader struct{ n int }

func (f *failReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, os.ErrPermission
	}
	k := copy(p[:min(len(p), f.n)], makeIDX(Uint8, []uint32{8}, nil))
	f.n -= k
	return k, nil
}

func TestDecodeReadError(t *testing.T) {
	_, err := Decode(&failReader{n: 6}, "dev/x.idx")
	if err == nil || !strings.HasPrefix(err.Error(), "dev/x.idx: reading IDX data: ") {
		t.Fatalf("got %v", err)
	}
}
