package table

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func f64s(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// readAll streams a file and returns its rows (nil = missing) or the first error.
func readAll(t *testing.T, name string, content []byte) ([][]float64, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRows(path, "")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out [][]float64
	for {
		v, err := r.Next()
		if errors.Is(err, io.EOF) {
			if r.Offset() != int64(len(content)) {
				t.Errorf("offset %d after the last row, file has %d bytes", r.Offset(), len(content))
			}
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if v != nil {
			v = append([]float64(nil), v...)
		}
		out = append(out, v)
	}
}

func TestRowReader(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name, file string
		content    []byte
		want       [][]float64
		err        string
	}{
		{name: "csv", file: "a.csv", content: []byte("1,2\n 3 , 4.5\r\n\"5\",6"), want: [][]float64{{1, 2}, {3, 4.5}, {5, 6}}},
		{name: "csv missing rows", file: "a.csv", content: []byte("1,2\n\n,\nnan,NaN\n3,4\n"), want: [][]float64{{1, 2}, nil, nil, nil, {3, 4}}},
		{name: "csv partly missing", file: "a.csv", content: []byte("1,2\n3,\n"), err: "a.csv: line 2, column 2: value \"\" is missing while the row's other values are present"},
		{name: "csv partly nan", file: "a.csv", content: []byte("1,2\nnan,3\n"), err: "line 2, column 1: value \"nan\" is missing"},
		{name: "csv width", file: "a.csv", content: []byte("1,2\n3,4,5\n"), err: "a.csv: line 2: 3 values, the rows before have 2"},
		{name: "csv inf", file: "a.csv", content: []byte("1,inf\n"), err: "line 1, column 2: value \"inf\" is infinite"},
		{name: "csv text", file: "a.csv", content: []byte("1,x\n"), err: "line 1, column 2: cannot parse \"x\""},
		{name: "npy", file: "a.npy", content: makeNPY(npySpec{header: hdr("<f8", "(3, 2)"), data: f64s(1, 2, nan, nan, 5, 6)}), want: [][]float64{{1, 2}, nil, {5, 6}}},
		{name: "npy partly nan", file: "a.npy", content: makeNPY(npySpec{header: hdr("<f8", "(2, 2)"), data: f64s(1, 2, nan, 4)}), err: "a.npy: row 2, column 1: value NaN is missing"},
		{name: "npy truncated", file: "a.npy", content: makeNPY(npySpec{header: hdr("<f8", "(2, 2)"), data: f64s(1, 2, 3)}), err: "a.npy: truncated data: shape (2, 2) of <f8 needs 32 bytes after byte offset 128, only 24 are present"},
		// A few header bytes can declare huge rows: refused before anything is allocated
		// (these crashed with out of memory, or streamed 10^12 empty rows).
		{name: "npy rows without values", file: "a.npy", content: makeNPY(npySpec{header: hdr("<f8", "(1000000000000, 0)")}), err: "a.npy: shape (1000000000000, 0) at byte offset 10: 1000000000000 rows without values (a matrix needs at least one column)"},
		{name: "npy no rows of a terabyte", file: "a.npy", content: makeNPY(npySpec{header: hdr("<f8", "(0, 1099511627776)")}), want: nil},
		{name: "npy a row of a terabyte", file: "a.npy", content: makeNPY(npySpec{header: hdr("<f8", "(1, 1099511627776)")}), err: "a.npy: truncated data: shape (1, 1099511627776) of <f8 needs 8796093022208 bytes after byte offset 128, only 0 are present"},
		{name: "npy columns overflow", file: "a.npy", content: makeNPY(npySpec{header: hdr("<f8", "(0, 4611686018427387904, 4611686018427387904)")}), err: "is too large: the data would exceed"},
		{name: "npy trailing", file: "a.npy", content: makeNPY(npySpec{header: hdr("<f8", "(1, 2)"), data: f64s(1, 2, 3)}), err: "trailing data after the 1 rows"},
		{name: "extension", file: "a.txt", content: []byte("1"), err: "unsupported file extension \".txt\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.file, tc.content)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("rows %v, want %v", got, tc.want)
			}
		})
	}
}
