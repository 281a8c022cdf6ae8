package table

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadNPY checks that ReadNPY never panics or allocates beyond what the input backs,
// that errors are one line naming the file, that a matrix it returns is consistent and
// finite, and that the streaming RowReader reads the same file to the same rows (or refuses
// it too).
func FuzzReadNPY(f *testing.F) {
	for _, s := range []npySpec{
		{header: hdr("<f8", "(2, 3)"), data: enc(le, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)},
		{header: hdr("<f4", "(3,)"), data: enc(le, float32(1), float32(-2), float32(3.5))},
		{header: hdr(">i2", "(2, 1, 2)"), data: enc(be, int16(1), int16(-2), int16(3), int16(4))},
		{header: hdr("|u1", "()"), data: []byte{7}},
		{header: hdr("|b1", "(2,)"), data: []byte{0, 1}},
		{header: hdr("<f2", "(1, 2)"), data: enc(le, uint16(0x3c00), uint16(0x7e00))},
		{header: hdr("<i8", "(0, 4)")},
		{major: 2, header: hdr("<u4", "(1,)"), data: enc(le, uint32(9))},
		{header: "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", data: make([]byte, 32)},
		{header: hdr("<f8", "(2, 2)"), data: enc(le, 1.0, 2.0, 3.0)},
		{header: hdr("<f8", "(1, 1)"), data: enc(le, math.NaN())},
	} {
		f.Add(makeNPY(s))
	}
	f.Add([]byte("\x93NUMPY"))
	f.Add([]byte("PK\x03\x04"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadNPY(bytes.NewReader(b), "fuzz.npy")
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "fuzz.npy: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q is not one line naming the file", msg)
			}
		} else {
			if m.Rows < 0 || m.Cols < 0 || len(m.Data) != m.Rows*m.Cols {
				t.Fatalf("inconsistent matrix %d x %d with %d values, shape %v", m.Rows, m.Cols, len(m.Data), m.Shape)
			}
			for _, v := range m.Data {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("NaN/Inf value %v accepted", v)
				}
			}
		}
		// The streaming reader must agree: the same rows, or an error where ReadNPY has one
		// (it also returns NaN rows as missing, which ReadNPY refuses).
		path := filepath.Join(dir, "fuzz.npy")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, rerr := OpenRows(path, "npy")
		if rerr != nil {
			if m != nil {
				t.Fatalf("ReadNPY read %d x %d, OpenRows refused: %v", m.Rows, m.Cols, rerr)
			}
			if msg := rerr.Error(); !strings.HasPrefix(msg, path+": ") || strings.Contains(msg, "\n") {
				t.Fatalf("OpenRows error %q is not one line naming the file", msg)
			}
			return
		}
		defer r.Close()
		for i := 0; ; i++ {
			if i > len(b) {
				t.Fatalf("RowReader gives more rows than the %d-byte input holds", len(b))
			}
			row, err := r.Next()
			if errors.Is(err, io.EOF) {
				if m != nil && i != m.Rows {
					t.Fatalf("RowReader gave %d rows, ReadNPY %d", i, m.Rows)
				}
				return
			}
			if err != nil {
				if m != nil {
					t.Fatalf("row %d: RowReader: %v, ReadNPY read it", i+1, err)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, path+": ") || strings.Contains(msg, "\n") {
					t.Fatalf("RowReader error %q is not one line naming the file", msg)
				}
				return
			}
			if m == nil {
				continue
			}
			if i >= m.Rows {
				t.Fatalf("RowReader gave more than ReadNPY's %d rows", m.Rows)
			}
			if row == nil {
				t.Fatalf("row %d: RowReader says missing, ReadNPY read %v", i+1, m.Row(i))
			}
			for j, v := range row {
				if v != m.Data[i*m.Cols+j] {
					t.Fatalf("row %d, column %d: RowReader %v, ReadNPY %v", i+1, j+1, v, m.Data[i*m.Cols+j])
				}
			}
		}
	})
}
