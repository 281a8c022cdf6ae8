package wav

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// wavSpec describes a WAV file for makeWAV. Zero fields take the values implied by the others.
type wavSpec struct {
	tag        int // format tag; 0 means 1 (PCM)
	sub        int // sub-format code for tag 0xFFFE; 0 means 1 (PCM)
	channels   int
	rate       int
	bits       int
	blockAlign int    // 0 means channels*bits/8
	fmtSize    int    // 0 means 16 (40 for extensible)
	before     []byte // raw bytes (whole chunks) inserted between fmt and data
	noFmt      bool
	noData     bool
	data       []byte
	dataSize   int // declared data size; 0 means len(data)
	trailer    []byte
}

func chunk(id string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(id)
	binary.Write(&b, binary.LittleEndian, uint32(len(body)))
	b.Write(body)
	if len(body)%2 == 1 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// makeWAV writes a RIFF/WAVE file following s.
func makeWAV(s wavSpec) []byte {
	le := binary.LittleEndian
	tag := s.tag
	if tag == 0 {
		tag = 1
	}
	align := s.blockAlign
	if align == 0 {
		align = s.channels * s.bits / 8
	}
	size := s.fmtSize
	if size == 0 {
		size = 16
		if tag == 0xFFFE {
			size = 40
		}
	}
	f := make([]byte, size)
	if size >= 16 {
		le.PutUint16(f[0:], uint16(tag))
		le.PutUint16(f[2:], uint16(s.channels))
		le.PutUint32(f[4:], uint32(s.rate))
		le.PutUint32(f[8:], uint32(s.rate*align))
		le.PutUint16(f[12:], uint16(align))
		le.PutUint16(f[14:], uint16(s.bits))
	}
	if size >= 40 {
		sub := s.sub
		if sub == 0 {
			sub = 1
		}
		le.PutUint16(f[16:], 22)
		le.PutUint16(f[18:], uint16(s.bits))
		le.PutUint32(f[20:], 0)
		le.PutUint16(f[24:], uint16(sub))
		copy(f[26:], ksdataformatSubtypeTail[:])
	}
	var body bytes.Buffer
	body.WriteString("WAVE")
	if !s.noFmt {
		body.Write(chunk("fmt ", f))
	}
	body.Write(s.before)
	if !s.noData {
		d := chunk("data", s.data)
		if s.dataSize != 0 {
			le.PutUint32(d[4:], uint32(s.dataSize))
		}
		body.Write(d)
	}
	body.Write(s.trailer)
	var out bytes.Buffer
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(body.Len()))
	out.Write(body.Bytes())
	return out.Bytes()
}

func le16(vs ...int16) []byte {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func le24(vs ...int32) []byte {
	var b []byte
	for _, v := range vs {
		u := uint32(v)
		b = append(b, byte(u), byte(u>>8), byte(u>>16))
	}
	return b
}

func le32(vs ...int32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		spec wavSpec
		want [][]float64
	}{
		{"8-bit mono", wavSpec{channels: 1, rate: 8000, bits: 8, data: []byte{0, 64, 128, 192, 255}},
			[][]float64{{-1, -0.5, 0, 0.5, 127.0 / 128}}},
		{"8-bit stereo odd size padded", wavSpec{channels: 2, rate: 11025, bits: 8, data: []byte{0, 255, 128, 64}},
			[][]float64{{-1, 0}, {127.0 / 128, -0.5}}},
		{"16-bit mono", wavSpec{channels: 1, rate: 8000, bits: 16, data: le16(-32768, -16384, 0, 16384, 32767)},
			[][]float64{{-1, -0.5, 0, 0.5, 32767.0 / 32768}}},
		{"16-bit stereo", wavSpec{channels: 2, rate: 44100, bits: 16, data: le16(1, -1, 8192, -8192)},
			[][]float64{{1.0 / 32768, 0.25}, {-1.0 / 32768, -0.25}}},
		{"24-bit mono", wavSpec{channels: 1, rate: 48000, bits: 24, data: le24(-8388608, -4194304, 0, 4194304, 8388607)},
			[][]float64{{-1, -0.5, 0, 0.5, 8388607.0 / 8388608}}},
		{"24-bit stereo", wavSpec{channels: 2, rate: 96000, bits: 24, data: le24(1, -1)},
			[][]float64{{1.0 / 8388608}, {-1.0 / 8388608}}},
		{"32-bit mono", wavSpec{channels: 1, rate: 1, bits: 32, data: le32(-2147483648, 1073741824, 2147483647)},
			[][]float64{{-1, 0.5, 2147483647.0 / 2147483648}}},
		{"32-bit stereo", wavSpec{channels: 2, rate: 22050, bits: 32, data: le32(-1073741824, 536870912)},
			[][]float64{{-0.5}, {0.25}}},
		{"extensible 16-bit", wavSpec{tag: 0xFFFE, channels: 2, rate: 16000, bits: 16, data: le16(16384, -16384)},
			[][]float64{{0.5}, {-0.5}}},
		{"empty data", wavSpec{channels: 1, rate: 8000, bits: 16},
			[][]float64{{}}},
		{"unknown chunks skipped, odd size padded",
			wavSpec{channels: 1, rate: 8000, bits: 16, data: le16(16384),
				before: append(chunk("LIST", []byte("abc")), chunk("junk", make([]byte, 6))...)},
			[][]float64{{0.5}}},
		{"fmt chunk with cbSize", wavSpec{channels: 1, rate: 8000, bits: 16, fmtSize: 18, data: le16(-16384)},
			[][]float64{{-0.5}}},
		{"trailing chunk and garbage ignored",
			wavSpec{channels: 1, rate: 8000, bits: 8, data: []byte{128, 0}, trailer: []byte("LIST\xff\xff\xff\xffxyz")},
			[][]float64{{0, -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Decode(bytes.NewReader(makeWAV(tt.spec)), "x.wav")
			if err != nil {
				t.Fatal(err)
			}
			if a.SampleRate != tt.spec.rate || a.Channels != tt.spec.channels || a.BitsPerSample != tt.spec.bits {
				t.Errorf("got rate %d channels %d bits %d, want %d %d %d", a.SampleRate, a.Channels, a.BitsPerSample,
					tt.spec.rate, tt.spec.channels, tt.spec.bits)
			}
			if len(a.Data) != len(tt.want) {
				t.Fatalf("got %d channels of data, want %d", len(a.Data), len(tt.want))
			}
			for c := range tt.want {
				if len(a.Data[c]) != len(tt.want[c]) {
					t.Fatalf("channel %d: got %d samples, want %d", c, len(a.Data[c]), len(tt.want[c]))
				}
				for i, w := range tt.want[c] {
					if a.Data[c][i] != w {
						t.Errorf("channel %d sample %d = %v, want %v", c, i, a.Data[c][i], w)
					}
				}
			}
			if a.Frames() != len(tt.want[0]) {
				t.Errorf("Frames() = %d, want %d", a.Frames(), len(tt.want[0]))
			}
		})
	}
}

func TestMono(t *testing.T) {
	tests := []struct {
		name string
		a    Audio
		want []float64
	}{
		{"mono copy", Audio{Channels: 1, Data: [][]float64{{0.5, -1}}}, []float64{0.5, -1}},
		{"stereo mean", Audio{Channels: 2, Data: [][]float64{{0.5, -1, 0}, {0, -0.5, 0.25}}}, []float64{0.25, -0.75, 0.125}},
		{"no data", Audio{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.a.Mono()
			if len(got) != len(tt.want) {
				t.Fatalf("Mono() = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("Mono() = %v, want %v", got, tt.want)
				}
			}
			if len(got) > 0 {
				got[0] = 99
				if tt.a.Data[0][0] == 99 {
					t.Error("Mono() aliases Data[0]")
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	ok := wavSpec{channels: 1, rate: 8000, bits: 16, data: le16(1, 2, 3)}
	with := func(f func(*wavSpec)) []byte {
		s := ok
		f(&s)
		return makeWAV(s)
	}
	valid := makeWAV(ok)
	tests := []struct {
		name  string
		input []byte
		want  []string // substrings of the error
	}{
		{"empty", nil, []string{"not a RIFF/WAVE file", "0 bytes"}},
		{"short", []byte("RIFF\x00\x00"), []string{"not a RIFF/WAVE file", "6 bytes"}},
		{"not RIFF", append([]byte("FORM"), valid[4:]...), []string{"not a RIFF/WAVE file but an AIFF file"}},
		{"text", []byte("root:x:0:0:root:/root:/bin/sh\n"), []string{`not a RIFF/WAVE file (bytes 0-3 are not "RIFF"; convert it to a PCM WAV file)`}},
		{"RIFX", append([]byte("RIFX"), valid[4:]...), []string{"RIFX", "not supported"}},
		{"not WAVE", append(append([]byte{}, valid[:8]...), append([]byte("AVI "), valid[12:]...)...), []string{"not a RIFF/WAVE file", `bytes 8-11 are "AVI "`}},
		{"no fmt", with(func(s *wavSpec) { s.noFmt = true }), []string{"no fmt chunk"}},
		{"no data", with(func(s *wavSpec) { s.noData = true }), []string{"no data chunk"}},
		{"no chunks", []byte("RIFF\x04\x00\x00\x00WAVE"), []string{"no fmt chunk and no data chunk"}},
		{"float", with(func(s *wavSpec) { s.tag = 3; s.bits = 32; s.data = le32(0) }), []string{"unsupported format tag 0x0003 (IEEE float)", "byte offset 20"}},
		{"mp3", with(func(s *wavSpec) { s.tag = 0x55 }), []string{"0x0055 (MPEG layer 3)"}},
		{"adpcm", with(func(s *wavSpec) { s.tag = 2 }), []string{"0x0002 (Microsoft ADPCM)"}},
		{"extensible float", with(func(s *wavSpec) { s.tag = 0xFFFE; s.sub = 3; s.bits = 32; s.data = le32(0) }), []string{"sub-format 0x0003 (IEEE float)", "byte offset 44"}},
		{"extensible short", with(func(s *wavSpec) { s.tag = 0xFFFE; s.fmtSize = 18 }), []string{"WAVE_FORMAT_EXTENSIBLE fmt chunk at byte offset 12 has 18 bytes, want 40"}},
		{"fmt too short", with(func(s *wavSpec) { s.fmtSize = 14 }), []string{"fmt chunk at byte offset 12 has 14 bytes, want at least 16"}},
		{"bit depth 12", with(func(s *wavSpec) { s.bits = 12; s.blockAlign = 2 }), []string{"unsupported bit depth 12", "byte offset 34"}},
		{"bit depth 64", with(func(s *wavSpec) { s.bits = 64 }), []string{"unsupported bit depth 64"}},
		{"3 channels", with(func(s *wavSpec) { s.channels = 3; s.data = le16(1, 2, 3) }), []string{"3 channels at byte offset 22 (only 1 or 2 are supported)"}},
		{"0 channels", with(func(s *wavSpec) { s.channels = 0; s.blockAlign = 2 }), []string{"0 channels"}},
		{"zero rate", with(func(s *wavSpec) { s.rate = 0 }), []string{"sample rate 0 at byte offset 24"}},
		{"block align", with(func(s *wavSpec) { s.blockAlign = 4 }), []string{"block align 4 at byte offset 32", "want 2"}},
		{"truncated data", with(func(s *wavSpec) { s.dataSize = 1000 }), []string{"truncated data", "byte offset 36 declares 1000 bytes but only 6 are present"}},
		{"data size max", with(func(s *wavSpec) { s.dataSize = -1 }), []string{"truncated data", "declares 4294967295 bytes"}},
		{"cut file", valid[:len(valid)-3], []string{"truncated data", "declares 6 bytes but only 3 are present"}},
		{"partial frame", with(func(s *wavSpec) { s.data = []byte{1, 2, 3} }), []string{"truncated data", "3 bytes, not a whole number of 2-byte frames"}},
		{"truncated fmt", valid[:30], []string{"truncated file", `"fmt " chunk at byte offset 12 declares 16 bytes but only 10 are present`}},
		{"truncated unknown chunk", with(func(s *wavSpec) { s.noData = true; s.before = []byte("LIST\x10\x00\x00\x00ab") }),
			[]string{"truncated file", `"LIST" chunk at byte offset 36`}},
		{"two fmt chunks", with(func(s *wavSpec) { s.before = chunk("fmt ", make([]byte, 16)) }), []string{"second fmt chunk at byte offset 36"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Decode(bytes.NewReader(tt.input), "dir/clip.wav")
			if err == nil {
				t.Fatalf("no error; decoded %+v", a)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "dir/clip.wav: ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, os.ErrDeadlineExceeded }

func TestDecodeReadError(t *testing.T) {
	_, err := Decode(errReader{}, "pipe.wav")
	if err == nil || !strings.HasPrefix(err.Error(), "pipe.wav: reading WAV data") {
		t.Fatalf("got %v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.wav")
	if err := os.WriteFile(p, makeWAV(wavSpec{channels: 1, rate: 8000, bits: 16, data: le16(16384)}), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := ReadFile(p)
	if err != nil || a.Mono()[0] != 0.5 {
		t.Fatalf("ReadFile = %+v, %v", a, err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.wav")); err == nil || !strings.Contains(err.Error(), "missing.wav") {
		t.Fatalf("missing file: got %v", err)
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "reading WAV data") {
		t.Fatalf("a directory: got %v", err)
	}
}

// TestReadFileEqualsDecode checks that ReadFile's sized read decodes files as Decode does.
func TestReadFileEqualsDecode(t *testing.T) {
	dir := t.TempDir()
	for i, b := range [][]byte{
		makeWAV(wavSpec{channels: 1, rate: 8000, bits: 16, data: le16(1, -2, 3, 16384)}),
		makeWAV(wavSpec{channels: 2, rate: 16000, bits: 24, data: le24(1, -2, 5, 7)}),
		makeWAV(wavSpec{channels: 1, rate: 8000, bits: 16}),
		[]byte("RIFF"),
	} {
		p := filepath.Join(dir, fmt.Sprintf("%d.wav", i))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, gerr := ReadFile(p)
		want, werr := Decode(bytes.NewReader(b), p)
		if !reflect.DeepEqual(got, want) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Errorf("file %d: ReadFile = %+v, %v; Decode = %+v, %v", i, got, gerr, want, werr)
		}
	}
}

// dataRoot is the shared real-data folder: $DMRNET_DATA_ROOT or ../../../shared/data.
func dataRoot() string {
	if d := os.Getenv("DMRNET_DATA_ROOT"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "data")
}

func TestFSDD(t *testing.T) {
	dir := filepath.Join(dataRoot(), "fsdd", "recordings")
	p := filepath.Join(dir, "0_jackson_0.wav")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("real data absent (%v); set DMRNET_DATA_ROOT to the folder holding fsdd/ to run this test", err)
	}
	a, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if a.SampleRate != 8000 || a.Channels != 1 || a.BitsPerSample != 16 {
		t.Fatalf("got %d Hz, %d channels, %d bits; want 8000 Hz mono 16-bit", a.SampleRate, a.Channels, a.BitsPerSample)
	}
	// 0_jackson_0.wav has a 10296-byte data chunk: 5148 samples.
	if a.Frames() != 5148 {
		t.Errorf("got %d samples, want 5148", a.Frames())
	}
	if testing.Short() {
		return
	}
	// Every clip of the set must decode as 8 kHz 16-bit mono.
	files, err := filepath.Glob(filepath.Join(dir, "*.wav"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		a, err := ReadFile(f)
		if err != nil {
			t.Error(err)
			continue
		}
		if a.SampleRate != 8000 || a.Channels != 1 || a.BitsPerSample != 16 || a.Frames() == 0 {
			t.Errorf("%s: %d Hz, %d channels, %d bits, %d samples", f, a.SampleRate, a.Channels, a.BitsPerSample, a.Frames())
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(makeWAV(wavSpec{channels: 1, rate: 8000, bits: 16, data: le16(1, -2, 3)}))
	f.Add(makeWAV(wavSpec{channels: 2, rate: 8000, bits: 24, data: le24(1, -2)}))
	f.Add(makeWAV(wavSpec{tag: 0xFFFE, channels: 2, rate: 8000, bits: 8, data: []byte{1, 2, 3, 4}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(bytes.NewReader(b), "fuzz.wav")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.wav: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		if a.Channels < 1 || a.Channels > 2 || len(a.Data) != a.Channels || a.SampleRate <= 0 {
			t.Fatalf("bad header %+v", a)
		}
		for _, ch := range a.Data {
			if len(ch) != len(a.Data[0]) {
				t.Fatal("channels have different lengths")
			}
			for _, v := range ch {
				if v < -1 || v >= 1 {
					t.Fatalf("sample %v out of [-1, 1)", v)
				}
			}
		}
		if len(a.Mono()) != a.Frames() {
			t.Fatal("Mono has the wrong length")
		}
	})
}
