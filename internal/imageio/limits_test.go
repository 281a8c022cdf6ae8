package imageio

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"testing"
)

// withPNGSize returns the PNG file b with the width and height in its IHDR chunk replaced
// (and the chunk's checksum recomputed), as a file that declares a huge image looks.
func withPNGSize(t *testing.T, b []byte, w, h uint32) []byte {
	t.Helper()
	out := append([]byte{}, b...)
	if string(out[12:16]) != "IHDR" {
		t.Fatal("no IHDR chunk at byte 12")
	}
	binary.BigEndian.PutUint32(out[16:20], w)
	binary.BigEndian.PutUint32(out[20:24], h)
	binary.BigEndian.PutUint32(out[29:33], crc32.ChecksumIEEE(out[12:29]))
	return out
}

// withJPEGSize returns the baseline JPEG file b with the size in its SOF0 segment replaced.
func withJPEGSize(t *testing.T, b []byte, w, h uint16) []byte {
	t.Helper()
	out := append([]byte{}, b...)
	i := bytes.Index(out, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker")
	}
	binary.BigEndian.PutUint16(out[i+5:i+7], h)
	binary.BigEndian.PutUint16(out[i+7:i+9], w)
	return out
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDecodeSizeLimit checks that Decode reads the declared size first and refuses images
// over MaxPixels without decoding them, at the default limit and at a lowered one.
func TestDecodeSizeLimit(t *testing.T) {
	small := encodePNG(t, gray(4, 4, bytes.Repeat([]byte{9}, 16)...))
	jpg := encodeJPEG(t, gray(8, 8, bytes.Repeat([]byte{9}, 64)...))
	tests := []struct {
		name  string
		limit int
		input []byte
		want  string // "" = decodes
	}{
		{"PNG 20000 x 20000", 0, withPNGSize(t, small, 20000, 20000),
			"big.png: the image has 20000 x 20000 pixels, more than the 67108864 (67 megapixels) dmrnet decodes (downscale it, e.g. to the model's input size)"},
		{"PNG one row longer than the limit", 0, withPNGSize(t, small, 1<<26+1, 1), "big.png: the image has 67108865 x 1 pixels"},
		{"PNG width over 2^31", 0, withPNGSize(t, small, 1<<31+5, 1), "big.png: corrupt or unsupported PNG file: "},
		{"JPEG 60000 x 60000", 0, withJPEGSize(t, jpg, 60000, 60000), "big.png: the image has 60000 x 60000 pixels, more than the 67108864"},
		{"at a lowered limit", 16, small, ""},
		{"over a lowered limit", 15, small, "big.png: the image has 4 x 4 pixels, more than the 15 (0 megapixels)"},
		{"JPEG at a lowered limit", 64, jpg, ""},
		{"JPEG over a lowered limit", 63, jpg, "big.png: the image has 8 x 8 pixels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.limit > 0 {
				defer func(old int) { MaxPixels = old }(MaxPixels)
				MaxPixels = tt.limit
			}
			img, err := Decode(bytes.NewReader(tt.input), "big.png")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if b := img.Bounds(); b.Dx()*b.Dy() > MaxPixels {
					t.Fatalf("decoded %v", b)
				}
				return
			}
			if err == nil {
				t.Fatalf("decoded %v, want an error", img.Bounds())
			}
			if !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line starting %q", err, tt.want)
			}
		})
	}
}

// TestDecodeEchoesNoContent checks that errors about files that are not images never quote
// their bytes (a manifest may point to any file, such as /etc/passwd).
func TestDecodeEchoesNoContent(t *testing.T) {
	for _, content := range []string{
		"root:x:0:0:root:/root:/bin/bash\n",
		"SECRET=hunter2",
		"GIF89a-hunter2",
		"BM-hunter2",
	} {
		_, err := Decode(strings.NewReader(content), "f")
		if err == nil {
			t.Fatalf("%q decoded", content)
		}
		for _, leak := range []string{"root", "72 6f 6f 74", "hunter2", "SECRET", "68 75 6e"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%q: error %q quotes the file's content (%q)", content, err, leak)
			}
		}
	}
}

// FuzzDecode checks that Decode never panics, that errors are one line naming the file,
// and that a decoded image respects MaxPixels and converts to a tensor. The limit is lowered
// so that inputs declaring large images stay fast.
func FuzzDecode(f *testing.F) {
	f.Add(encodePNG(f, gray(3, 2, 1, 2, 3, 4, 5, 6)))
	f.Add(encodePNG(f, gray16(2, 2, 0, 1000, 40000, 65535)))
	f.Add(encodePNG(f, rgba(2, 1, color.NRGBA{255, 0, 0, 128}, color.NRGBA{0, 0, 255, 255})))
	pal := image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.Gray{10}, color.NRGBA{200, 0, 0, 255}})
	f.Add(encodePNG(f, pal))
	f.Add(encodeJPEG(f, gray(8, 8, bytes.Repeat([]byte{100}, 64)...)))
	f.Add(encodeJPEG(f, rgba(3, 3, color.NRGBA{1, 2, 3, 255})))
	f.Add([]byte("GIF89a\x01\x00\x01\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		defer func(old int) { MaxPixels = old }(MaxPixels)
		MaxPixels = 1 << 16
		img, err := Decode(bytes.NewReader(b), "fuzz.png")
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "fuzz.png: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q is not one line naming the file", msg)
			}
			return
		}
		bd := img.Bounds()
		if bd.Dx() < 0 || bd.Dy() < 0 || bd.Dx()*bd.Dy() > MaxPixels {
			t.Fatalf("decoded an image of %v, over the limit %d", bd, MaxPixels)
		}
		for _, ch := range []int{1, 3} {
			s := unit(ch, 3, 2, 0, true)
			out, err := s.Tensor(img, "fuzz.png")
			if err != nil {
				if bd.Dx() > 0 && bd.Dy() > 0 {
					t.Fatalf("Tensor of a %v image: %v", bd, err)
				}
				continue
			}
			if len(out) != ch*3*2 {
				t.Fatalf("Tensor gave %d values", len(out))
			}
		}
	})
}
