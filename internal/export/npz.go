package export

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// WriteNPZ writes arrays as a numpy .npz archive: a zip file (entries stored uncompressed,
// as numpy.savez does) with one NPY file per array, named <name>.npy, so that
// numpy.load(path)[name] returns it.
func WriteNPZ(w io.Writer, arrays []Array) error {
	zw := zip.NewWriter(w)
	seen := map[string]bool{}
	for _, a := range arrays {
		if a.Name == "" || seen[a.Name] {
			return fmt.Errorf("export: npz array name %q is empty or repeated", a.Name)
		}
		seen[a.Name] = true
		f, err := zw.CreateHeader(&zip.FileHeader{Name: a.Name + ".npy", Method: zip.Store})
		if err != nil {
			return fmt.Errorf("export: npz entry %s: %w", a.Name, err)
		}
		if err := WriteNPY(f, a); err != nil {
			return err
		}
	}
	return zw.Close()
}

// WriteNPY writes one array in numpy's NPY format (version 1.0, or 2.0 for headers longer
// than 65535 bytes): the magic string, the version, the header length, a header dict
// {'descr': ..., 'fortran_order': False, 'shape': (...), } padded with spaces and a newline
// so that the data starts at a multiple of 64 bytes, then the values little-endian.
func WriteNPY(w io.Writer, a Array) error {
	dt, err := a.check()
	if err != nil {
		return err
	}
	dims := make([]string, len(a.Shape))
	for i, d := range a.Shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := "(" + strings.Join(dims, ", ") + ")"
	if len(dims) == 1 {
		shape = "(" + dims[0] + ",)"
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", dt.npy, shape)
	var pre bytes.Buffer
	pre.WriteString(npyMagic)
	hlen := func(lenSize int) int {
		total := len(npyMagic) + 2 + lenSize + len(dict) + 1
		return len(dict) + 1 + (64-total%64)%64
	}
	lenSize := 2
	if hlen(2) > 65535 {
		lenSize = 4
	}
	n := hlen(lenSize)
	if lenSize == 2 {
		pre.Write([]byte{1, 0})
		pre.Write(binary.LittleEndian.AppendUint16(nil, uint16(n)))
	} else {
		pre.Write([]byte{2, 0})
		pre.Write(binary.LittleEndian.AppendUint32(nil, uint32(n)))
	}
	pre.WriteString(dict)
	pre.Write(bytes.Repeat([]byte{' '}, n-len(dict)-1))
	pre.WriteByte('\n')
	if _, err := w.Write(pre.Bytes()); err != nil {
		return err
	}
	return writeLE(w, a.Data)
}

var (
	npyDescr   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// ReadNPY parses an NPY file held in b (C order; float32, float64, int64 or uint8 values,
// little-endian).
func ReadNPY(b []byte) (Array, error) {
	if len(b) < 10 || string(b[:6]) != npyMagic {
		return Array{}, fmt.Errorf("npy: not an NPY file")
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		if len(b) < 12 {
			return Array{}, fmt.Errorf("npy: truncated header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		return Array{}, fmt.Errorf("npy: unsupported version %d.%d", b[6], b[7])
	}
	if start+hlen > len(b) {
		return Array{}, fmt.Errorf("npy: truncated header")
	}
	h := string(b[start : start+hlen])
	d, f, s := npyDescr.FindStringSubmatch(h), npyFortran.FindStringSubmatch(h), npyShape.FindStringSubmatch(h)
	if d == nil || f == nil || s == nil {
		return Array{}, fmt.Errorf("npy: header %q lacks descr, fortran_order or shape", h)
	}
	if f[1] == "True" {
		return Array{}, fmt.Errorf("npy: Fortran-ordered arrays are not supported")
	}
	var dt dtype
	switch d[1] {
	case dtF32.npy:
		dt = dtF32
	case dtF64.npy:
		dt = dtF64
	case dtI64.npy:
		dt = dtI64
	case dtU8.npy, "<u1":
		dt = dtU8
	default:
		return Array{}, fmt.Errorf("npy: unsupported dtype %s (want <f4, <f8, <i8 or |u1)", d[1])
	}
	shape := []int{}
	count := 1
	for p := range strings.SplitSeq(s[1], ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Array{}, fmt.Errorf("npy: bad shape (%s)", s[1])
		}
		shape = append(shape, n)
		count *= n
	}
	body := b[start+hlen:]
	if len(body) != count*dt.size {
		return Array{}, fmt.Errorf("npy: %d data bytes for shape %v of %s", len(body), shape, d[1])
	}
	v, err := decodeLE(body, dt)
	if err != nil {
		return Array{}, fmt.Errorf("npy: %w", err)
	}
	return Array{Shape: shape, Data: v}, nil
}

// ReadNPZ parses an .npz archive held in b and returns its arrays by name (the entry names
// without .npy).
func ReadNPZ(b []byte) (map[string]Array, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("npz: %w", err)
	}
	out := map[string]Array{}
	for _, f := range zr.File {
		name, ok := strings.CutSuffix(f.Name, ".npy")
		if !ok {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("npz: %s: %w", f.Name, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("npz: %s: %w", f.Name, err)
		}
		a, err := ReadNPY(data)
		if err != nil {
			return nil, fmt.Errorf("npz: %s: %w", f.Name, err)
		}
		a.Name = name
		out[name] = a
	}
	return out, nil
}
