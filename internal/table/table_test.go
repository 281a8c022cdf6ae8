package table

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name  string
		input string
		opt   CSVOptions
		rows  int
		cols  int
		want  []float64
	}{
		{"plain", "1,2,3\n4,5,6\n", CSVOptions{}, 2, 3, []float64{1, 2, 3, 4, 5, 6}},
		{"no final newline", "1,2\n3,4", CSVOptions{}, 2, 2, []float64{1, 2, 3, 4}},
		{"CRLF", "1,2\r\n3,4\r\n", CSVOptions{}, 2, 2, []float64{1, 2, 3, 4}},
		{"spaces around values", " 1 , 2.5\t,-3e2 \n4,  5,6\n", CSVOptions{}, 2, 3, []float64{1, 2.5, -300, 4, 5, 6}},
		{"quoted", "\"1.5\",\" 2\"\n", CSVOptions{}, 1, 2, []float64{1.5, 2}},
		{"blank lines skipped", "\n1\n\n2\n\n", CSVOptions{}, 2, 1, []float64{1, 2}},
		{"single column", "7\n8\n9\n", CSVOptions{}, 3, 1, []float64{7, 8, 9}},
		{"header", "a,b\n1,2\n", CSVOptions{Header: true}, 1, 2, []float64{1, 2}},
		{"header of other width", "id\n1,2\n", CSVOptions{Header: true}, 1, 2, []float64{1, 2}},
		{"semicolon", "1;2\n3;4\n", CSVOptions{Comma: ';'}, 2, 2, []float64{1, 2, 3, 4}},
		{"tab", "1\t2\n3\t4\n", CSVOptions{Comma: '\t'}, 2, 2, []float64{1, 2, 3, 4}},
		{"underflow to zero", "1e-400\n", CSVOptions{}, 1, 1, []float64{0}},
		{"mfeat style", "1.00000000,0.00000000,133.15086140\n", CSVOptions{}, 1, 3, []float64{1, 0, 133.15086140}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ReadCSVWith(strings.NewReader(tt.input), "x.csv", tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if m.Rows != tt.rows || m.Cols != tt.cols || !reflect.DeepEqual(m.Data, tt.want) || !reflect.DeepEqual(m.Shape, []int{tt.rows, tt.cols}) {
				t.Fatalf("got %d x %d %v shape %v, want %d x %d %v", m.Rows, m.Cols, m.Data, m.Shape, tt.rows, tt.cols, tt.want)
			}
		})
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		opt   CSVOptions
		want  string // the whole message after "dir/x.csv: "
	}{
		{"empty", "", CSVOptions{}, "empty file: no rows"},
		{"only blank lines", "\n\n", CSVOptions{}, "empty file: no rows"},
		{"header only", "a,b\n", CSVOptions{Header: true}, "empty file: no data rows after the header"},
		{"ragged short", "1,2,3\n4,5,6\n7,8\n", CSVOptions{}, "line 3: row 3 has 2 values, the first row (line 1) has 3 (every row needs the same number of values)"},
		{"ragged long after header and blank", "h\n\n1,2\n3,4,5\n", CSVOptions{Header: true}, "line 4: row 2 has 3 values, the first row (line 3) has 2 (every row needs the same number of values)"},
		{"empty cell", "1,2,3\n4,,6\n", CSVOptions{}, "line 2, column 2: empty cell (missing value? impute it or drop the row)"},
		{"blank cell", "1, ,3\n", CSVOptions{}, "line 1, column 2: empty cell (missing value? impute it or drop the row)"},
		{"trailing comma", "1,2,\n", CSVOptions{}, "line 1, column 3: empty cell (trailing delimiter, or a missing value? impute it or drop the row)"},
		{"non-numeric", "1,2\n3,abc\n", CSVOptions{}, `line 2, column 2: cannot parse "abc" as a number (write plain numbers such as 0.5 or -1e-3)`},
		{"header not skipped", "x,y\n1,2\n", CSVOptions{}, `line 1, column 1: cannot parse "x" as a number (write plain numbers such as 0.5 or -1e-3)`},
		{"comma decimal", "1;2,5\n", CSVOptions{Comma: ';'}, `line 1, column 2: cannot parse "2,5" as a number (write plain numbers such as 0.5 or -1e-3)`},
		{"NaN", "1,2\n3,NaN\n", CSVOptions{}, `line 2, column 2: value "NaN": NaN/Inf is not allowed (impute the missing values or drop the row)`},
		{"nan lower case", "nan\n", CSVOptions{}, `line 1, column 1: value "nan": NaN/Inf is not allowed (impute the missing values or drop the row)`},
		{"Inf", "1\n2\n-Inf\n", CSVOptions{}, `line 3, column 1: value "-Inf": NaN/Inf is not allowed (impute the missing values or drop the row)`},
		{"out of range", "1,1e999\n", CSVOptions{}, `line 1, column 2: value "1e999" is out of the float64 range`},
		{"bare quote", "1,2\n3,4\"5\n", CSVOptions{}, `line 2, character 4: bare " in non-quoted-field`},
		{"multi-line quoted cell", "1,\"2\n\",x\n", CSVOptions{}, `line 2, column 3: cannot parse "x" as a number (write plain numbers such as 0.5 or -1e-3)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ReadCSVWith(strings.NewReader(tt.input), "dir/x.csv", tt.opt)
			if err == nil {
				t.Fatalf("no error; got %+v", m)
			}
			if want := "dir/x.csv: " + tt.want; err.Error() != want {
				t.Errorf("got  %q\nwant %q", err, want)
			}
		})
	}
}

func TestReadCSVBadComma(t *testing.T) {
	for _, c := range []rune{'"', '\n', '\r', -1} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "table: ") {
					t.Errorf("Comma %q: recovered %v, want a table: panic", c, r)
				}
			}()
			ReadCSVWith(strings.NewReader("1"), "x.csv", CSVOptions{Comma: c})
		}()
	}
}

// npySpec describes an NPY file for makeNPY.
type npySpec struct {
	major  byte   // 0 means 1
	header string // dictionary literal; padded like numpy does
	raw    bool   // write header as is, without padding or newline
	data   []byte
}

// makeNPY writes an NPY file: magic, version, header length, header padded with spaces and
// a newline so that the data starts at a multiple of 64 bytes, then the data.
func makeNPY(s npySpec) []byte {
	major := s.major
	if major == 0 {
		major = 1
	}
	lenSize := 2
	if major >= 2 {
		lenSize = 4
	}
	h := s.header
	if !s.raw {
		pre := 6 + 2 + lenSize
		total := pre + len(h) + 1
		h += strings.Repeat(" ", (64-total%64)%64) + "\n"
	}
	b := []byte(npyMagic)
	b = append(b, major, 0)
	if lenSize == 2 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	}
	b = append(b, h...)
	return append(b, s.data...)
}

func hdr(descr, shape string) string {
	return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }"
}

func enc(order binary.ByteOrder, vs ...any) []byte {
	var buf bytes.Buffer
	for _, v := range vs {
		binary.Write(&buf, order, v)
	}
	return buf.Bytes()
}

var (
	le = binary.LittleEndian
	be = binary.BigEndian
)

func TestReadNPY(t *testing.T) {
	tests := []struct {
		name  string
		spec  npySpec
		rows  int
		cols  int
		shape []int
		want  []float64
	}{
		{"<f8 2-D", npySpec{header: hdr("<f8", "(2, 3)"), data: enc(le, []float64{1, 2, 3, 4, 5, -6.5})}, 2, 3, []int{2, 3}, []float64{1, 2, 3, 4, 5, -6.5}},
		{">f8", npySpec{header: hdr(">f8", "(2,)"), data: enc(be, []float64{math.Pi, -1})}, 2, 1, []int{2}, []float64{math.Pi, -1}},
		{"<f4 1-D", npySpec{header: hdr("<f4", "(3,)"), data: enc(le, []float32{0.5, -0.25, 3})}, 3, 1, []int{3}, []float64{0.5, -0.25, 3}},
		{">f4", npySpec{header: hdr(">f4", "(1, 1)"), data: enc(be, float32(1.5))}, 1, 1, []int{1, 1}, []float64{1.5}},
		{"<f2", npySpec{header: hdr("<f2", "(4,)"), data: enc(le, []uint16{0x3c00, 0xc000, 0x0001, 0x7bff})}, 4, 1, []int{4}, []float64{1, -2, math.Ldexp(1, -24), 65504}},
		{"<i1", npySpec{header: hdr("<i1", "(3,)"), data: []byte{0x80, 0xff, 5}}, 3, 1, []int{3}, []float64{-128, -1, 5}},
		{"|i1", npySpec{header: hdr("|i1", "(1,)"), data: []byte{0xfe}}, 1, 1, []int{1}, []float64{-2}},
		{"|u1", npySpec{header: hdr("|u1", "(2, 2)"), data: []byte{0, 1, 254, 255}}, 2, 2, []int{2, 2}, []float64{0, 1, 254, 255}},
		{"<u1", npySpec{header: hdr("<u1", "(1,)"), data: []byte{200}}, 1, 1, []int{1}, []float64{200}},
		{"<i2", npySpec{header: hdr("<i2", "(2,)"), data: enc(le, []int16{-300, 300})}, 2, 1, []int{2}, []float64{-300, 300}},
		{">i2", npySpec{header: hdr(">i2", "(2,)"), data: enc(be, []int16{-300, 300})}, 2, 1, []int{2}, []float64{-300, 300}},
		{"<u2", npySpec{header: hdr("<u2", "(1,)"), data: enc(le, uint16(65535))}, 1, 1, []int{1}, []float64{65535}},
		{"<i4", npySpec{header: hdr("<i4", "(2,)"), data: enc(le, []int32{-70000, 70000})}, 2, 1, []int{2}, []float64{-70000, 70000}},
		{"<u4", npySpec{header: hdr("<u4", "(1,)"), data: enc(le, uint32(4000000000))}, 1, 1, []int{1}, []float64{4000000000}},
		{"<i8", npySpec{header: hdr("<i8", "(2,)"), data: enc(le, []int64{-1 << 40, 7})}, 2, 1, []int{2}, []float64{-1 << 40, 7}},
		{">i8", npySpec{header: hdr(">i8", "(1,)"), data: enc(be, int64(-9))}, 1, 1, []int{1}, []float64{-9}},
		{"<u8", npySpec{header: hdr("<u8", "(1,)"), data: enc(le, uint64(1<<60))}, 1, 1, []int{1}, []float64{1 << 60}},
		{"|b1", npySpec{header: hdr("|b1", "(3,)"), data: []byte{0, 1, 2}}, 3, 1, []int{3}, []float64{0, 1, 1}},
		{"3-D flattened", npySpec{header: hdr("<i2", "(2, 2, 2)"), data: enc(le, []int16{1, 2, 3, 4, 5, 6, 7, 8})}, 2, 4, []int{2, 2, 2}, []float64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"0-D", npySpec{header: hdr("<f8", "()"), data: enc(le, 2.5)}, 1, 1, []int{}, []float64{2.5}},
		{"empty rows", npySpec{header: hdr("<f8", "(0, 4)")}, 0, 4, []int{0, 4}, []float64{}},
		{"version 2.0", npySpec{major: 2, header: hdr("<f8", "(1,)"), data: enc(le, 1.0)}, 1, 1, []int{1}, []float64{1}},
		{"version 3.0", npySpec{major: 3, header: hdr("<i4", "(1,)"), data: enc(le, int32(3))}, 1, 1, []int{1}, []float64{3}},
		{"key order, double quotes, Python 2 longs", npySpec{header: `{"shape": (2L, 1L), "fortran_order": False, "descr": "<u2"}`, data: enc(le, []uint16{1, 2})}, 2, 1, []int{2, 1}, []float64{1, 2}},
		{"unpadded header", npySpec{raw: true, header: hdr("<u2", "(1,)"), data: enc(le, uint16(9))}, 1, 1, []int{1}, []float64{9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ReadNPY(bytes.NewReader(makeNPY(tt.spec)), "x.npy")
			if err != nil {
				t.Fatal(err)
			}
			if m.Rows != tt.rows || m.Cols != tt.cols || !reflect.DeepEqual(m.Shape, tt.shape) || !reflect.DeepEqual(m.Data, tt.want) {
				t.Fatalf("got %d x %d shape %v %v, want %d x %d shape %v %v", m.Rows, m.Cols, m.Shape, m.Data, tt.rows, tt.cols, tt.shape, tt.want)
			}
		})
	}
}

func TestReadNPYErrors(t *testing.T) {
	// A version 1.0 header starts at byte offset 10; padded like numpy pads it, hdr(...) makes
	// it 118 bytes long, so the data starts at byte offset 128.
	tests := []struct {
		name  string
		input []byte
		want  string // the whole message after "dir/x.npy: "
	}{
		{"empty", nil, `not an NPY file: the file is empty (save the array with numpy.save)`},
		{"not npy", []byte("PK\x03\x04 zip file"), `not an NPY file: it does not start with "\x93NUMPY" (save the array with numpy.save)`},
		{"bad version", []byte("\x93NUMPY\x04\x00\x10\x00"), "unsupported NPY format version 4.0 at byte offset 6 (want 1.0, 2.0 or 3.0)"},
		{"short length", []byte("\x93NUMPY\x02\x00\x10\x00"), "truncated NPY header: the header length at byte offset 8 needs 4 bytes, only 2 are present"},
		{"truncated header", makeNPY(npySpec{header: hdr("<f8", "(1,)")})[:30], "truncated NPY header: 118 bytes declared at byte offset 10, only 20 are present"},
		{"huge header", []byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"), "NPY header length 2147483647 at byte offset 8 is implausibly large (over 1048576 bytes)"},
		{"fortran order", makeNPY(npySpec{header: "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", data: make([]byte, 32)}),
			"the array is stored in Fortran (column-major) order, only C order is supported (save it with np.save(path, np.ascontiguousarray(a)))"},
		{"complex", makeNPY(npySpec{header: hdr("<c16", "(1,)"), data: make([]byte, 16)}),
			`NPY header at byte offset 10: unsupported dtype "<c16": not a numeric type (want a float, integer or bool type such as '<f8', '<f4', '<i8' or '|u1')`},
		{"string", makeNPY(npySpec{header: hdr("<U3", "(1,)"), data: make([]byte, 12)}), `NPY header at byte offset 10: unsupported dtype "<U3": not a numeric type (want a float, integer or bool type such as '<f8', '<f4', '<i8' or '|u1')`},
		{"object", makeNPY(npySpec{header: hdr("|O", "(1,)"), data: make([]byte, 8)}), `NPY header at byte offset 10: unsupported dtype "|O": too short (want a float, integer or bool type such as '<f8', '<f4', '<i8' or '|u1')`},
		{"no byte order", makeNPY(npySpec{header: hdr("|f8", "(1,)"), data: make([]byte, 8)}),
			`NPY header at byte offset 10: unsupported dtype "|f8": multi-byte types need an explicit byte order, '<' or '>' (want a float, integer or bool type such as '<f8', '<f4', '<i8' or '|u1')`},
		{"structured", makeNPY(npySpec{header: "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }"}),
			"malformed NPY header at byte offset 20: structured dtypes, with a list descr, are not supported (save a plain numeric array)"},
		{"missing key", makeNPY(npySpec{header: "{'descr': '<f8', 'shape': (1,), }"}), `malformed NPY header at byte offset 10: the header has no "fortran_order" key`},
		{"unknown key", makeNPY(npySpec{header: "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}"}), `malformed NPY header at byte offset 66: unexpected key "x"`},
		{"bad shape", makeNPY(npySpec{header: hdr("<f8", "(2, -1)")}), "malformed NPY header at byte offset 64: shape must hold non-negative integers"},
		{"shape not tuple", makeNPY(npySpec{header: hdr("<f8", "[2]")}), "malformed NPY header at byte offset 60: shape must be a tuple"},
		{"no brace", makeNPY(npySpec{header: "descr"}), "malformed NPY header at byte offset 10: want '{' to start the header dictionary"},
		{"junk after dict", makeNPY(npySpec{raw: true, header: hdr("<f8", "(1,)") + "xyz"}), `malformed NPY header at byte offset 67: unexpected "xyz" after the header dictionary`},
		{"overflow", makeNPY(npySpec{header: hdr("<f8", "(4294967296, 4294967296)")}),
			"shape (4294967296, 4294967296) of <f8 at byte offset 10 is too large: the data would exceed 9223372036854775807 bytes"},
		{"rows without values", makeNPY(npySpec{header: hdr("<f8", "(1000000000000, 0)")}),
			"shape (1000000000000, 0) at byte offset 10: 1000000000000 rows without values (a matrix needs at least one column)"},
		{"columns overflow with no rows", makeNPY(npySpec{header: hdr("<f8", "(0, 4611686018427387904, 4611686018427387904)")}),
			"shape (0, 4611686018427387904, 4611686018427387904) of <f8 at byte offset 10 is too large: the data would exceed 9223372036854775807 bytes"},
		{"truncated data", makeNPY(npySpec{header: hdr("<f8", "(3, 4)"), data: make([]byte, 80)}),
			"truncated data: shape (3, 4) of <f8 needs 96 bytes after byte offset 128, only 80 are present"},
		{"trailing data", makeNPY(npySpec{header: hdr("<i2", "(2,)"), data: make([]byte, 7)}), "3 bytes of trailing data at byte offset 132, after the 4-byte array"},
		{"NaN", makeNPY(npySpec{header: hdr("<f8", "(2, 3)"), data: enc(le, []float64{1, 2, 3, 4, math.NaN(), 6})}),
			"row 2, column 2 (element 4, byte offset 160): value NaN: NaN/Inf is not allowed (impute the missing values or drop the row)"},
		{"Inf 1-D", makeNPY(npySpec{header: hdr(">f4", "(3,)"), data: enc(be, []float32{1, 2, float32(math.Inf(-1))})}),
			"row 3, column 1 (element 2, byte offset 136): value -Inf: NaN/Inf is not allowed (impute the missing values or drop the row)"},
		{"half NaN", makeNPY(npySpec{header: hdr("<f2", "(1,)"), data: enc(le, uint16(0x7e00))}),
			"row 1, column 1 (element 0, byte offset 128): value NaN: NaN/Inf is not allowed (impute the missing values or drop the row)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ReadNPY(bytes.NewReader(tt.input), "dir/x.npy")
			if err == nil {
				t.Fatalf("no error; got %+v", m)
			}
			if want := "dir/x.npy: " + tt.want; err.Error() != want {
				t.Errorf("got  %q\nwant %q", err, want)
			}
		})
	}
}

func TestMatrixAccess(t *testing.T) {
	m := &Matrix{Rows: 2, Cols: 2, Data: []float64{1, 2, 3, 4}, Shape: []int{2, 2}}
	if m.At(1, 0) != 3 || !reflect.DeepEqual(m.Row(1), []float64{3, 4}) {
		t.Fatalf("At(1, 0) = %v, Row(1) = %v", m.At(1, 0), m.Row(1))
	}
	for _, f := range []func(){func() { m.At(2, 0) }, func() { m.At(0, -1) }, func() { m.Row(5) }} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "table: ") {
					t.Errorf("recovered %v, want a table: panic", r)
				}
			}()
			f()
		}()
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	csvPath := write("a.csv", []byte("1,2\n3,4\n"))
	npyPath := write("b.NPY", makeNPY(npySpec{header: hdr("<f8", "(2, 2)"), data: enc(le, []float64{1, 2, 3, 4})}))
	for _, p := range []string{csvPath, npyPath} {
		m, err := ReadFile(p)
		if err != nil || m.Rows != 2 || m.Cols != 2 || !reflect.DeepEqual(m.Data, []float64{1, 2, 3, 4}) {
			t.Errorf("ReadFile(%s) = %+v, %v", p, m, err)
		}
	}
	txt := write("c.txt", []byte("1,2\n"))
	if m, err := ReadFileAs(txt, "csv"); err != nil || m.Cols != 2 {
		t.Errorf("ReadFileAs(csv) = %+v, %v", m, err)
	}
	errTests := []struct {
		name string
		err  func() error
		want string
	}{
		{"other extension", func() error { _, err := ReadFile(txt); return err }, txt + `: unsupported file extension ".txt" (want .csv or .npy)`},
		{"no extension", func() error { _, err := ReadFile(filepath.Join(dir, "data")); return err }, filepath.Join(dir, "data") + ": no file extension (want .csv or .npy)"},
		{"unknown format", func() error { _, err := ReadFileAs(txt, "xlsx"); return err }, txt + `: unknown table format "xlsx" (want "csv" or "npy")`},
		{"npy as csv", func() error { _, err := ReadFileAs(csvPath, "npy"); return err }, csvPath + `: not an NPY file: it does not start with "\x93NUMPY" (save the array with numpy.save)`},
	}
	for _, tt := range errTests {
		if err := tt.err(); err == nil || err.Error() != tt.want {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: got %v", err)
	}
}

func dataRoot() string {
	if d := os.Getenv("DMRNET_DATA_ROOT"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "data")
}

func TestMFeat(t *testing.T) {
	dir := filepath.Join(dataRoot(), "mfeat")
	if _, err := os.Stat(filepath.Join(dir, "labels.csv")); err != nil {
		t.Skipf("real data absent (%v); set DMRNET_DATA_ROOT to the folder holding mfeat/ to run this test", err)
	}
	tests := []struct {
		file string
		cols int
	}{
		{"pix.csv", 240}, {"fou.csv", 76}, {"fac.csv", 216}, {"zer.csv", 47}, {"kar.csv", 64}, {"mor.csv", 6},
		{"labels.csv", 1}, {"tmc_split.csv", 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.Rows != 2000 || m.Cols != tt.cols || len(m.Data) != 2000*tt.cols {
				t.Fatalf("got %d x %d, want 2000 x %d", m.Rows, m.Cols, tt.cols)
			}
		})
	}
	labels, err := ReadFile(filepath.Join(dir, "labels.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var count [10]int
	for _, v := range labels.Data {
		if v != math.Trunc(v) || v < 0 || v > 9 {
			t.Fatalf("label %v is not a digit", v)
		}
		count[int(v)]++
	}
	if count != [10]int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200} {
		t.Errorf("label counts %v, want 200 each", count)
	}
}

func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{"1,2\n3,4\n", " 1 , 2 \n", "1,\n", "\"1\",2\n3,\"4\n\"\n", "NaN\n", "1,2\n3\n", ""} {
		f.Add(s, false)
	}
	f.Add("a,b\n1,2\n", true)
	f.Fuzz(func(t *testing.T, s string, header bool) {
		m, err := ReadCSVWith(strings.NewReader(s), "fuzz.csv", CSVOptions{Header: header})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		if m.Rows < 1 || m.Cols < 1 || len(m.Data) != m.Rows*m.Cols || !reflect.DeepEqual(m.Shape, []int{m.Rows, m.Cols}) {
			t.Fatalf("inconsistent matrix %d x %d with %d values", m.Rows, m.Cols, len(m.Data))
		}
		for _, v := range m.Data {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("NaN/Inf value %v accepted", v)
			}
		}
	})
}
