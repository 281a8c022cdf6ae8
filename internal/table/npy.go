package table

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// npyMagic starts every NPY file; the format version follows it.
const npyMagic = "\x93NUMPY"

// maxNPYHeader bounds the header length a file may declare (numpy itself refuses headers
// over 10000 bytes by default).
const maxNPYHeader = 1 << 20

// ReadNPY reads a NumPy .npy array (format version 1.0, 2.0 or 3.0) from r as a matrix.
// The name is used in error messages only.
//
// The dtype may be a float (f2, f4, f8), signed or unsigned integer (i1 ... i8, u1 ... u8)
// or bool (b1), little-endian ('<'), big-endian ('>') or, for one-byte types, without
// byte order ('|'); 64-bit integers beyond 2^53 lose precision in the conversion to
// float64. Only C-order (row-major) arrays are read. A 1-D array of n values gives an
// n x 1 matrix, a 0-D array a 1 x 1 matrix, and an N-D array a shape[0] x
// (shape[1]*...*shape[N-1]) matrix; Shape keeps the array's shape.
func ReadNPY(r io.Reader, name string) (*Matrix, error) {
	info, err := readNPYHeader(r, name)
	if err != nil {
		return nil, err
	}
	shape, dt, count, dstart := info.shape, info.dt, info.count, info.dstart
	h := info.header
	want := count * dt.size
	data, err := readN(r, want)
	if err != nil {
		return nil, fmt.Errorf("%s: reading NPY data: %v", name, err)
	}
	if len(data) < want {
		return nil, fmt.Errorf("%s: truncated data: shape %s of %s needs %d bytes after byte offset %d, only %d are present",
			name, shapeString(shape), h.descr, want, dstart, len(data))
	}
	if extra, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("%s: reading NPY data: %v", name, err)
	} else if extra > 0 {
		return nil, fmt.Errorf("%s: %d bytes of trailing data at byte offset %d, after the %d-byte array", name, extra, dstart+want, want)
	}

	m := &Matrix{Shape: shape, Data: make([]float64, count), Rows: info.rows, Cols: info.cols}
	for i := range m.Data {
		v := dt.at(data[i*dt.size : (i+1)*dt.size])
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: row %d, column %d (element %d, byte offset %d): value %v: NaN/Inf is not allowed (impute the missing values or drop the row)",
				name, i/max(m.Cols, 1)+1, i%max(m.Cols, 1)+1, i, dstart+i*dt.size, v)
		}
		m.Data[i] = v
	}
	return m, nil
}

// npyInfo is what an NPY file's preamble says: the header, the array's shape and dtype, the
// matrix it gives (rows x cols, count values), and the byte offsets of the header and the
// data.
type npyInfo struct {
	header         npyHeader
	shape          []int
	dt             dtype
	rows, cols     int
	count          int
	hstart, dstart int
}

func readNPYHeader(r io.Reader, name string) (npyInfo, error) {
	pre, err := readN(r, 8)
	if err != nil {
		return npyInfo{}, fmt.Errorf("%s: reading NPY data: %v", name, err)
	}
	if len(pre) < 8 || string(pre[:6]) != npyMagic {
		// Never quote the bytes: the file may be anything a manifest points to.
		switch {
		case len(pre) == 0:
			return npyInfo{}, fmt.Errorf("%s: not an NPY file: the file is empty (save the array with numpy.save)", name)
		case len(pre) >= 6 && string(pre[:6]) == npyMagic:
			return npyInfo{}, fmt.Errorf("%s: truncated NPY header: the format version at byte offset 6 needs 2 bytes, only %d are present", name, len(pre)-6)
		}
		return npyInfo{}, fmt.Errorf("%s: not an NPY file: it does not start with %q (save the array with numpy.save)", name, npyMagic)
	}
	major, minor := pre[6], pre[7]
	var lenSize int
	switch major {
	case 1:
		lenSize = 2
	case 2, 3:
		lenSize = 4
	default:
		return npyInfo{}, fmt.Errorf("%s: unsupported NPY format version %d.%d at byte offset 6 (want 1.0, 2.0 or 3.0)", name, major, minor)
	}
	lb, err := readN(r, lenSize)
	if err != nil {
		return npyInfo{}, fmt.Errorf("%s: reading NPY data: %v", name, err)
	}
	if len(lb) < lenSize {
		return npyInfo{}, fmt.Errorf("%s: truncated NPY header: the header length at byte offset 8 needs %d bytes, only %d are present", name, lenSize, len(lb))
	}
	var hlen int
	if lenSize == 2 {
		hlen = int(binary.LittleEndian.Uint16(lb))
	} else {
		hlen = int(binary.LittleEndian.Uint32(lb))
	}
	if hlen > maxNPYHeader {
		return npyInfo{}, fmt.Errorf("%s: NPY header length %d at byte offset 8 is implausibly large (over %d bytes)", name, hlen, maxNPYHeader)
	}
	hstart := 8 + lenSize
	hb, err := readN(r, hlen)
	if err != nil {
		return npyInfo{}, fmt.Errorf("%s: reading NPY data: %v", name, err)
	}
	if len(hb) < hlen {
		return npyInfo{}, fmt.Errorf("%s: truncated NPY header: %d bytes declared at byte offset %d, only %d are present", name, hlen, hstart, len(hb))
	}
	h, err := parseNPYHeader(hb)
	if err != nil {
		pos := 0
		var he *headerError
		if errors.As(err, &he) {
			pos = he.pos
		}
		return npyInfo{}, fmt.Errorf("%s: malformed NPY header at byte offset %d: %v", name, hstart+pos, err)
	}
	dt, err := parseDescr(h.descr)
	if err != nil {
		return npyInfo{}, fmt.Errorf("%s: NPY header at byte offset %d: %v", name, hstart, err)
	}
	if h.fortran {
		return npyInfo{}, fmt.Errorf("%s: the array is stored in Fortran (column-major) order, only C order is supported (save it with np.save(path, np.ascontiguousarray(a)))", name)
	}
	shape := h.shape
	tooLarge := func() (npyInfo, error) {
		return npyInfo{}, fmt.Errorf("%s: shape %s of %s at byte offset %d is too large: the data would exceed %d bytes", name, shapeString(shape), h.descr, hstart, math.MaxInt)
	}
	// The matrix is shape[0] x the product of the other dimensions; both, and their
	// product in bytes, must fit an int even when a dimension is 0.
	rows, cols := 1, 1
	if len(shape) > 0 {
		rows = shape[0]
	}
	if len(shape) > 1 {
		for _, d := range shape[1:] {
			if d != 0 && cols > math.MaxInt/dt.size/d {
				return tooLarge()
			}
			cols *= d
		}
	}
	if rows > 0 && cols == 0 {
		return npyInfo{}, fmt.Errorf("%s: shape %s at byte offset %d: %d rows without values (a matrix needs at least one column)", name, shapeString(shape), hstart, rows)
	}
	if cols > 0 && rows > math.MaxInt/dt.size/cols {
		return tooLarge()
	}
	return npyInfo{header: h, shape: shape, dt: dt, rows: rows, cols: cols, count: rows * cols, hstart: hstart, dstart: hstart + hlen}, nil
}

// dtype is a decoded NPY descr.
type dtype struct {
	size int
	at   func(b []byte) float64
}

// parseDescr decodes a simple dtype string such as "<f8" or "|u1".
func parseDescr(s string) (dtype, error) {
	bad := func(why string) (dtype, error) {
		return dtype{}, fmt.Errorf("unsupported dtype %q: %s (want a float, integer or bool type such as '<f8', '<f4', '<i8' or '|u1')", s, why)
	}
	if len(s) < 2 {
		return bad("too short")
	}
	order := s[0]
	rest := s[1:]
	switch order {
	case '<', '>', '|', '=':
	default:
		order, rest = '=', s
	}
	if len(rest) < 2 {
		return bad("too short")
	}
	kind := rest[0]
	size, err := strconv.Atoi(rest[1:])
	if err != nil {
		return bad("bad item size")
	}
	if (order == '|' || order == '=') && size > 1 {
		return bad("multi-byte types need an explicit byte order, '<' or '>'")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if order == '>' {
		bo = binary.BigEndian
	}
	d := dtype{size: size}
	switch {
	case kind == 'f' && size == 2:
		d.at = func(b []byte) float64 { return halfToFloat(bo.Uint16(b)) }
	case kind == 'f' && size == 4:
		d.at = func(b []byte) float64 { return float64(math.Float32frombits(bo.Uint32(b))) }
	case kind == 'f' && size == 8:
		d.at = func(b []byte) float64 { return math.Float64frombits(bo.Uint64(b)) }
	case kind == 'i' && size == 1:
		d.at = func(b []byte) float64 { return float64(int8(b[0])) }
	case kind == 'i' && size == 2:
		d.at = func(b []byte) float64 { return float64(int16(bo.Uint16(b))) }
	case kind == 'i' && size == 4:
		d.at = func(b []byte) float64 { return float64(int32(bo.Uint32(b))) }
	case kind == 'i' && size == 8:
		d.at = func(b []byte) float64 { return float64(int64(bo.Uint64(b))) }
	case kind == 'u' && size == 1:
		d.at = func(b []byte) float64 { return float64(b[0]) }
	case kind == 'u' && size == 2:
		d.at = func(b []byte) float64 { return float64(bo.Uint16(b)) }
	case kind == 'u' && size == 4:
		d.at = func(b []byte) float64 { return float64(bo.Uint32(b)) }
	case kind == 'u' && size == 8:
		d.at = func(b []byte) float64 { return float64(bo.Uint64(b)) }
	case kind == 'b' && size == 1:
		d.at = func(b []byte) float64 {
			if b[0] != 0 {
				return 1
			}
			return 0
		}
	default:
		return bad("not a numeric type")
	}
	return d, nil
}

// halfToFloat converts an IEEE 754 binary16 value.
func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * math.Ldexp(1024+frac, exp-25)
}

// shapeString formats a shape the way Python prints a tuple: "(3, 4)", "(5,)", "()".
func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// npyHeader holds the three keys of an NPY header dictionary.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

// headerError is a syntax error at byte pos of the header.
type headerError struct {
	pos int
	msg string
}

func (e *headerError) Error() string { return e.msg }

// parseNPYHeader parses the Python dictionary literal of an NPY header, such as
// {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }.
func parseNPYHeader(b []byte) (npyHeader, error) {
	p := &pyParser{b: b}
	var h npyHeader
	var seen [3]bool
	p.space()
	if !p.eat('{') {
		return h, p.errorf("want '{' to start the header dictionary")
	}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		kpos := p.pos
		key, err := p.str()
		if err != nil {
			return h, err
		}
		p.space()
		if !p.eat(':') {
			return h, p.errorf("want ':' after key %q", key)
		}
		p.space()
		vpos := p.pos
		switch key {
		case "descr":
			if p.peek() == '[' {
				return h, &headerError{vpos, "structured dtypes, with a list descr, are not supported (save a plain numeric array)"}
			}
			if h.descr, err = p.str(); err != nil {
				return h, err
			}
			seen[0] = true
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
				h.fortran = false
			default:
				return h, p.errorf("fortran_order must be True or False")
			}
			seen[1] = true
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, err
			}
			seen[2] = true
		default:
			return h, &headerError{kpos, fmt.Sprintf("unexpected key %q", key)}
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return h, p.errorf("want ',' or '}' after the value of %q", key)
		}
		break
	}
	for i, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[i] {
			return h, &headerError{0, fmt.Sprintf("the header has no %q key", k)}
		}
	}
	p.space()
	if p.pos != len(b) {
		return h, p.errorf("unexpected %q after the header dictionary", b[p.pos:min(p.pos+10, len(b))])
	}
	return h, nil
}

// pyParser reads the small subset of Python literals that NPY headers use.
type pyParser struct {
	b   []byte
	pos int
}

func (p *pyParser) errorf(format string, args ...any) error {
	return &headerError{p.pos, fmt.Sprintf(format, args...)}
}

func (p *pyParser) peek() byte {
	if p.pos < len(p.b) {
		return p.b[p.pos]
	}
	return 0
}

// space skips white space, including the newline that ends the header.
func (p *pyParser) space() {
	for p.pos < len(p.b) && (p.b[p.pos] == ' ' || p.b[p.pos] == '\t' || p.b[p.pos] == '\n' || p.b[p.pos] == '\r') {
		p.pos++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.peek() == c {
		p.pos++
		return true
	}
	return false
}

func (p *pyParser) word(w string) bool {
	if bytes.HasPrefix(p.b[p.pos:], []byte(w)) {
		p.pos += len(w)
		return true
	}
	return false
}

// str reads a quoted string without escapes.
func (p *pyParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.errorf("want a quoted string")
	}
	end := bytes.IndexByte(p.b[p.pos+1:], q)
	if end < 0 {
		return "", p.errorf("unterminated string")
	}
	s := string(p.b[p.pos+1 : p.pos+1+end])
	p.pos += end + 2
	return s, nil
}

// tuple reads a tuple of non-negative integers such as (3, 4), (5,) or ().
func (p *pyParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, p.errorf("shape must be a tuple")
	}
	shape := []int{}
	for {
		p.space()
		if p.eat(')') {
			return shape, nil
		}
		start := p.pos
		for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == start {
			return nil, p.errorf("shape must hold non-negative integers")
		}
		d, err := strconv.Atoi(string(p.b[start:p.pos]))
		if err != nil {
			return nil, &headerError{start, fmt.Sprintf("shape dimension %s is too large", p.b[start:p.pos])}
		}
		shape = append(shape, d)
		p.eat('L') // Python 2 long suffix
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat(')') {
			return nil, p.errorf("want ',' or ')' in the shape tuple")
		}
		return shape, nil
	}
}

// readN reads up to n bytes, fewer only at the end of the input. io.ReadAll grows its
// buffer as data arrives, so a header declaring a huge array cannot allocate memory the input
// does not back.
func readN(r io.Reader, n int) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, int64(n)))
}
