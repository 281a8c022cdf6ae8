// Package wav decodes RIFF/WAVE files holding integer PCM audio.
//
// Decode accepts the plain PCM format (format tag 1) and WAVE_FORMAT_EXTENSIBLE (0xFFFE)
// with the PCM sub-format, 8-, 16-, 24- or 32-bit samples, one or two channels and any
// sample rate. Samples are scaled to [-1, 1): 8-bit samples are unsigned, (x-128)/128;
// 16-, 24- and 32-bit samples are signed, x/2^(bits-1). Chunks other than "fmt " and
// "data" are skipped.
//
// Errors are one line of the form "NAME: problem at byte offset N", where NAME is the name
// the caller passed (usually the file's path).
package wav

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/dmrnet/dmrnet/internal/fileerr"
)

// Audio is decoded PCM audio.
type Audio struct {
	// SampleRate is the number of frames per second.
	SampleRate int
	// Channels is the number of channels, 1 or 2.
	Channels int
	// BitsPerSample is the sample size of the file: 8, 16, 24 or 32.
	BitsPerSample int
	// Data holds one slice of samples per channel, all of the same length, scaled to [-1, 1).
	Data [][]float64
}

// Frames returns the number of samples per channel.
func (a *Audio) Frames() int {
	if len(a.Data) == 0 {
		return 0
	}
	return len(a.Data[0])
}

// Mono returns a new slice holding the mean of the channels at each frame.
// For single-channel audio it is a copy of Data[0].
func (a *Audio) Mono() []float64 {
	if len(a.Data) == 0 {
		return nil
	}
	out := make([]float64, len(a.Data[0]))
	copy(out, a.Data[0])
	if len(a.Data) == 1 {
		return out
	}
	for _, ch := range a.Data[1:] {
		if len(ch) != len(out) {
			panic("wav: Audio channels have different lengths")
		}
		for i, v := range ch {
			out[i] += v
		}
	}
	inv := 1 / float64(len(a.Data))
	for i := range out {
		out[i] *= inv
	}
	return out
}

// ReadFile decodes the WAV file at path. It reads the file into one buffer of the file's
// size (Decode's io.ReadAll grows its buffer step by step, several times the file's size).
func ReadFile(path string) (*Audio, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileerr.Open(path, err)
	}
	defer f.Close()
	size := 0
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 && int64(int(fi.Size())) == fi.Size() {
		size = int(fi.Size())
	}
	b := make([]byte, 0, size+1) // one byte more: the read that sees EOF needs room
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading WAV data: %w", path, err)
		}
	}
	return decode(b, path)
}

const (
	formatPCM        = 0x0001
	formatExtensible = 0xFFFE
)

// formatName names the common WAVE format tags so that errors can say what a file holds.
func formatName(tag int) string {
	switch tag {
	case 0x0001:
		return "integer PCM"
	case 0x0002:
		return "Microsoft ADPCM"
	case 0x0003:
		return "IEEE float"
	case 0x0006:
		return "A-law"
	case 0x0007:
		return "mu-law"
	case 0x0011:
		return "IMA ADPCM"
	case 0x0031:
		return "GSM 6.10"
	case 0x0050:
		return "MPEG"
	case 0x0055:
		return "MPEG layer 3"
	case 0x00FF:
		return "AAC"
	case 0xF1AC:
		return "FLAC"
	case 0xFFFE:
		return "WAVE_FORMAT_EXTENSIBLE"
	}
	return "unknown format"
}

// ksdataformatSubtypeTail is the part of the KSDATAFORMAT_SUBTYPE_* GUIDs that follows the
// two-byte format code in a WAVE_FORMAT_EXTENSIBLE fmt chunk.
var ksdataformatSubtypeTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

type format struct {
	channels, sampleRate, blockAlign, bits int
}

// Decode reads a WAV file from r. The name is used in error messages only.
func Decode(r io.Reader, name string) (*Audio, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: reading WAV data: %w", name, err)
	}
	return decode(b, name)
}

// decode parses a whole WAV file held in b.
func decode(b []byte, name string) (*Audio, error) {
	if len(b) < 12 {
		return nil, fmt.Errorf("%s: not a RIFF/WAVE file: only %d bytes, shorter than the 12-byte RIFF header", name, len(b))
	}
	if string(b[0:4]) != "RIFF" {
		if string(b[0:4]) == "RIFX" {
			return nil, fmt.Errorf("%s: big-endian RIFX files are not supported: bytes 0-3 are \"RIFX\", want \"RIFF\"", name)
		}
		// Name the format, never the bytes: the file may be anything a manifest points to.
		switch {
		case string(b[0:4]) == "FORM":
			return nil, fmt.Errorf("%s: not a RIFF/WAVE file but an AIFF file (convert it to a PCM WAV file)", name)
		case string(b[0:4]) == "fLaC":
			return nil, fmt.Errorf("%s: not a RIFF/WAVE file but a FLAC file (convert it to a PCM WAV file)", name)
		case string(b[0:4]) == "OggS":
			return nil, fmt.Errorf("%s: not a RIFF/WAVE file but an Ogg file (convert it to a PCM WAV file)", name)
		case string(b[0:3]) == "ID3" || b[0] == 0xff && b[1]&0xe0 == 0xe0:
			return nil, fmt.Errorf("%s: not a RIFF/WAVE file but an MP3 file (convert it to a PCM WAV file)", name)
		}
		return nil, fmt.Errorf("%s: not a RIFF/WAVE file (bytes 0-3 are not \"RIFF\"; convert it to a PCM WAV file)", name)
	}
	if string(b[8:12]) != "WAVE" {
		// The form type of a RIFF file is a four-character code such as "AVI "; it is
		// quoted only when it looks like one.
		if fourCC(b[8:12]) {
			return nil, fmt.Errorf("%s: not a RIFF/WAVE file: bytes 8-11 are %q, want \"WAVE\"", name, b[8:12])
		}
		return nil, fmt.Errorf("%s: not a RIFF/WAVE file: bytes 8-11 are not \"WAVE\"", name)
	}

	var (
		fm                *format
		dataOff, dataSize int
		haveData          bool
		pos               = 12
	)
	// Walk the chunks until both fmt and data have been seen; whatever follows is ignored.
	for pos+8 <= len(b) && (fm == nil || !haveData) {
		id := b[pos : pos+4]
		declared := int(binary.LittleEndian.Uint32(b[pos+4 : pos+8]))
		body := pos + 8
		chunkEnd := body + declared
		if declared > len(b)-body {
			present := len(b) - body
			if string(id) == "data" {
				return nil, fmt.Errorf("%s: truncated data: data chunk at byte offset %d declares %d bytes but only %d are present", name, pos, declared, present)
			}
			return nil, fmt.Errorf("%s: truncated file: %q chunk at byte offset %d declares %d bytes but only %d are present", name, id, pos, declared, present)
		}
		switch string(id) {
		case "fmt ":
			if fm != nil {
				return nil, fmt.Errorf("%s: second fmt chunk at byte offset %d", name, pos)
			}
			f, err := parseFmt(b[body:chunkEnd], body, name)
			if err != nil {
				return nil, err
			}
			fm = f
		case "data":
			if haveData {
				return nil, fmt.Errorf("%s: second data chunk at byte offset %d", name, pos)
			}
			haveData, dataOff, dataSize = true, body, declared
		}
		pos = chunkEnd + declared&1
	}
	switch {
	case fm == nil && !haveData:
		return nil, fmt.Errorf("%s: no fmt chunk and no data chunk in the %d-byte file", name, len(b))
	case fm == nil:
		return nil, fmt.Errorf("%s: no fmt chunk in the %d-byte file", name, len(b))
	case !haveData:
		return nil, fmt.Errorf("%s: no data chunk in the %d-byte file", name, len(b))
	}
	if dataSize%fm.blockAlign != 0 {
		return nil, fmt.Errorf("%s: truncated data: data chunk at byte offset %d holds %d bytes, not a whole number of %d-byte frames", name, dataOff-8, dataSize, fm.blockAlign)
	}
	return samples(b[dataOff:dataOff+dataSize], fm), nil
}

// parseFmt checks the body of a fmt chunk that starts at byte offset off of the file.
func parseFmt(c []byte, off int, name string) (*format, error) {
	le := binary.LittleEndian
	if len(c) < 16 {
		return nil, fmt.Errorf("%s: fmt chunk at byte offset %d has %d bytes, want at least 16", name, off-8, len(c))
	}
	tag := int(le.Uint16(c[0:2]))
	f := &format{
		channels:   int(le.Uint16(c[2:4])),
		sampleRate: int(le.Uint32(c[4:8])),
		blockAlign: int(le.Uint16(c[12:14])),
		bits:       int(le.Uint16(c[14:16])),
	}
	switch tag {
	case formatPCM:
	case formatExtensible:
		if len(c) < 40 {
			return nil, fmt.Errorf("%s: WAVE_FORMAT_EXTENSIBLE fmt chunk at byte offset %d has %d bytes, want 40", name, off-8, len(c))
		}
		sub := int(le.Uint16(c[24:26]))
		if !bytes.Equal(c[26:40], ksdataformatSubtypeTail[:]) {
			return nil, fmt.Errorf("%s: unsupported sub-format GUID % x at byte offset %d (only PCM is supported)", name, c[24:40], off+24)
		}
		if sub != formatPCM {
			return nil, fmt.Errorf("%s: unsupported sub-format 0x%04X (%s) at byte offset %d (only integer PCM is supported)", name, sub, formatName(sub), off+24)
		}
	default:
		return nil, fmt.Errorf("%s: unsupported format tag 0x%04X (%s) at byte offset %d (only integer PCM, tag 1, and WAVE_FORMAT_EXTENSIBLE with a PCM sub-format are supported: convert it to 16-bit PCM)", name, tag, formatName(tag), off)
	}
	switch {
	case f.channels == 0:
		return nil, fmt.Errorf("%s: fmt chunk says 0 channels at byte offset %d", name, off+2)
	case f.channels > 2:
		return nil, fmt.Errorf("%s: %d channels at byte offset %d (only 1 or 2 are supported)", name, f.channels, off+2)
	case f.sampleRate == 0:
		return nil, fmt.Errorf("%s: sample rate 0 at byte offset %d", name, off+4)
	}
	switch f.bits {
	case 8, 16, 24, 32:
	default:
		return nil, fmt.Errorf("%s: unsupported bit depth %d at byte offset %d (want 8, 16, 24 or 32)", name, f.bits, off+14)
	}
	if want := f.channels * f.bits / 8; f.blockAlign != want {
		return nil, fmt.Errorf("%s: block align %d at byte offset %d does not match %d channels of %d bits (want %d)", name, f.blockAlign, off+12, f.channels, f.bits, want)
	}
	return f, nil
}

// samples converts interleaved PCM frames to scaled per-channel samples.
func samples(d []byte, f *format) *Audio {
	n := len(d) / f.blockAlign
	a := &Audio{SampleRate: f.sampleRate, Channels: f.channels, BitsPerSample: f.bits, Data: make([][]float64, f.channels)}
	for c := range a.Data {
		a.Data[c] = make([]float64, n)
	}
	size := f.bits / 8
	for c, ch := range a.Data {
		p := c * size
		for i := range ch {
			s := d[p : p+size]
			switch size {
			case 1:
				ch[i] = (float64(s[0]) - 128) / 128
			case 2:
				ch[i] = float64(int16(binary.LittleEndian.Uint16(s))) / (1 << 15)
			case 3:
				v := int32(uint32(s[0])<<8|uint32(s[1])<<16|uint32(s[2])<<24) >> 8
				ch[i] = float64(v) / (1 << 23)
			case 4:
				ch[i] = float64(int32(binary.LittleEndian.Uint32(s))) / (1 << 31)
			}
			p += f.blockAlign
		}
	}
	return a
}

// fourCC reports whether b is a four-character code: letters, digits and spaces.
func fourCC(b []byte) bool {
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ') {
			return false
		}
	}
	return true
}
